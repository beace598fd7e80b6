"""The node-wide apply lock and the per-GPU journal (the edge's files).

- Lock: ``flock`` on ``STATE_DIR/apply.lock`` so two runs (an operator and the daemon, or two
  operators) never interleave; a second run waits for the first.
- Journal: ``STATE_DIR/journal-<GPU UUID>.json`` written before the first change and after each
  action (temp file + fsync + rename), deleted when the run ends cleanly. A journal found at
  start means a run died midway; the next run completes it or rolls it back. A UUID that is not
  plain ``[A-Za-z0-9_-]`` text (NVML's are ``GPU-`` and hex) is named by its SHA-256 instead
  (``journal+<hex>.json``), so no UUID reaches outside the directory.

``STATE_DIR`` is ``--state-dir``, else ``$MIGCTL_STATE_DIR``, else ``/var/lib/migctl``.

The daemon runs as root on a hostPath, so the files are handled as a privileged program must:
the directory is created 0700 whatever the umask, and refused (exit 4) when another user owns it
or others may write to it; the lock and journals are opened with ``O_NOFOLLOW`` and must be plain
files with one link (a planted symlink or hard link is refused, never followed or truncated).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migctl.errors import InputError, RefusedError

DEFAULT_STATE_DIR = "/var/lib/migctl"
_PLAIN_UUID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def state_dir(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("MIGCTL_STATE_DIR") or DEFAULT_STATE_DIR)


_STATE_HINT = "choose another directory with --state-dir / MIGCTL_STATE_DIR"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class LockWaitStopped(RefusedError):
    """The wait for the apply lock ended because the caller is stopping (the daemon got SIGTERM)."""


def _ensure_dir(path: Path) -> None:
    """Create the state directory 0700 (whatever the umask) and check it is safe to use as root."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
            os.chmod(path, 0o700)  # mkdir's mode is masked by the umask; the state directory is not
        except FileExistsError:
            pass
    except OSError as exc:
        raise InputError(
            f"state directory {path}: {exc.strerror or exc}",
            hint="run as root, or " + _STATE_HINT,
        ) from None
    check_state_dir(path)


def check_state_dir(path: Path) -> None:
    """:class:`RefusedError` (exit 4) unless ``path`` is a directory this user owns that others cannot write."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(f"state directory {path}: {exc.strerror or exc}", hint=_STATE_HINT) from None
    if not stat.S_ISDIR(st.st_mode):
        raise RefusedError(f"state directory {path} is not a directory", hint=_STATE_HINT)
    if st.st_uid != os.geteuid():
        raise RefusedError(
            f"state directory {path} is owned by uid {st.st_uid}, not by this user (uid {os.geteuid()}): "
            "another user could plant files migctl would trust; refused for safety",
            hint=f"chown it to uid {os.geteuid()} and chmod 0700, or " + _STATE_HINT)
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise RefusedError(
            f"state directory {path} is writable by {'others' if st.st_mode & stat.S_IWOTH else 'its group'} "
            f"(mode {stat.S_IMODE(st.st_mode):04o}): another user could plant files migctl would trust; "
            "refused for safety",
            hint=f"chmod 0700 {path}, or " + _STATE_HINT)


def _open_private(path: Path, flags: int, what: str) -> int:
    """Open ``path`` without following a symlink; refuse anything but a plain file with one link."""
    try:
        fd = os.open(path, flags | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0), 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RefusedError(f"{what} {path} is a symbolic link: refused for safety (never followed as root)",
                               hint=f"remove {path}") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            why = "has other hard links" if stat.S_ISREG(st.st_mode) else "is not a regular file"
            raise RefusedError(f"{what} {path} {why}: refused for safety", hint=f"remove {path}")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_duration(seconds: float, what: str) -> float:
    """A finite, non-negative number of seconds (:class:`InputError` otherwise: ``nan`` would wait forever)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        raise InputError(f"{what}: {seconds!r} is not a finite number of seconds >= 0")
    return float(seconds)


def _holder_line() -> str:
    """Who holds the lock, for the message of a run that waits: the PID alone is ambiguous across PID
    namespaces (the daemon's container and the host), so the host name (a pod's name) and the time too."""
    import socket

    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return f"pid {os.getpid()} on {socket.gethostname()[:64]} since {since}\n"


def _holder(fd: int) -> str:
    """What the current holder wrote into the lock file (read from the locked file itself)."""
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""


@contextlib.contextmanager
def node_lock(directory: Path, *, timeout: float = 600.0, poll: float = 0.05,
              stop: threading.Event | None = None) -> Iterator[None]:
    """Hold the exclusive apply lock of this node; wait up to ``timeout`` seconds for it.

    ``stop``: when set while waiting, give up at once (:class:`LockWaitStopped`) rather than wait out the
    timeout: a daemon told to stop starts no new work.
    """
    timeout = check_duration(timeout, "lock timeout")
    _ensure_dir(directory)
    path = directory / "apply.lock"
    try:
        fd = _open_private(path, os.O_RDWR | os.O_CREAT, "lock file")
    except OSError as exc:
        raise InputError(f"lock file {path}: {exc.strerror or exc}", hint="choose another --state-dir") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if stop is not None and stop.is_set():  # the lock is busy and the caller is stopping
                    holder = _holder(fd)
                    raise LockWaitStopped(f"stopping: gave up waiting for {path}"
                                          f"{f' (held by {holder})' if holder else ''}; nothing was changed") from None
                if time.monotonic() >= deadline:
                    holder = _holder(fd)
                    raise RefusedError(
                        f"another migctl apply holds {path}{f' (held by {holder})' if holder else ''}; "
                        f"gave up after {timeout:g}s",
                        hint="wait for it to finish, or raise --lock-timeout",
                    ) from None
                wait = min(poll, max(0.0, deadline - time.monotonic()))
                if stop is not None:
                    stop.wait(wait)
                else:
                    time.sleep(wait)
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder_line().encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # the file names the holder only while it holds the lock
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@dataclass
class Journal:
    """What a run is doing to one GPU; enough to complete or undo it after a crash."""

    gpu_uuid: str
    gpu_index: int
    before: list[dict[str, Any]]  # [{"profile", "start", "size"}] exact layout before the run
    before_mig_enabled: bool
    desired: str | None  # canonical geometry text, or None for "MIG disabled"
    actions: list[dict[str, Any]]
    done: int = 0
    pid: int = field(default_factory=os.getpid)
    started: float = field(default_factory=time.time)

    @staticmethod
    def path_for(directory: Path, gpu_uuid: str) -> Path:
        """``journal-<UUID>.json`` for a plain UUID, else ``journal+<SHA-256 of the UUID>.json``: a UUID
        is driver data, and ``/../`` in it must not name a file outside ``directory``."""
        if _PLAIN_UUID.fullmatch(gpu_uuid):
            return directory / f"journal-{gpu_uuid}.json"
        return directory / f"journal+{hashlib.sha256(gpu_uuid.encode('utf-8', 'surrogatepass')).hexdigest()}.json"

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "gpu_uuid": self.gpu_uuid,
            "gpu_index": self.gpu_index,
            "before": self.before,
            "before_mig_enabled": self.before_mig_enabled,
            "desired": self.desired,
            "actions": self.actions,
            "done": self.done,
            "pid": self.pid,
            "started": self.started,
        }

    def save(self, directory: Path) -> None:
        _ensure_dir(directory)
        path = self.path_for(directory, self.gpu_uuid)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.to_dict(), fh, indent=2)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            with contextlib.suppress(OSError):
                dir_fd = os.open(directory, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, directory: Path, gpu_uuid: str) -> Journal | None:
        path = cls.path_for(directory, gpu_uuid)
        try:
            fd = _open_private(path, os.O_RDONLY, "journal")
            with os.fdopen(fd, "rb") as fh:
                data = json.loads(fh.read(16 << 20).decode("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise InputError(f"journal {path} cannot be read ({exc}); inspect it and remove it to continue") from None
        if isinstance(data, dict) and data.get("gpu_uuid") != gpu_uuid:
            raise InputError(f"journal {path} is for GPU {str(data.get('gpu_uuid'))[:80]!r}, not {gpu_uuid!r}; "
                             "inspect it and remove it to continue")
        try:
            return cls(
                gpu_uuid=str(data["gpu_uuid"]),
                gpu_index=int(data["gpu_index"]),
                before=[{"profile": str(b["profile"]), "start": int(b["start"]), "size": int(b["size"])} for b in data["before"]],
                before_mig_enabled=bool(data.get("before_mig_enabled", True)),
                desired=data.get("desired"),
                actions=list(data.get("actions") or []),
                done=int(data.get("done", 0)),
                pid=int(data.get("pid", 0)),
                started=float(data.get("started", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"journal {path}: missing or bad field {exc}; inspect it and remove it to continue") from None

    def delete(self, directory: Path) -> None:
        self.path_for(directory, self.gpu_uuid).unlink(missing_ok=True)
