"""The node-wide apply lock and the per-GPU journal (the edge's files).

- Lock: ``flock`` on ``STATE_DIR/apply.lock`` so two runs (an operator and the daemon, or two
  operators) never interleave; a second run waits for the first.
- Journal: ``STATE_DIR/journal-<GPU UUID>.json`` written before the first change and after each
  action (temp file + fsync + rename), deleted when the run ends cleanly. A journal found at
  start means a run died midway; the next run completes it or rolls it back.

``STATE_DIR`` is ``--state-dir``, else ``$MIGCTL_STATE_DIR``, else ``/var/lib/migctl``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migctl.errors import InputError, RefusedError

DEFAULT_STATE_DIR = "/var/lib/migctl"


def state_dir(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("MIGCTL_STATE_DIR") or DEFAULT_STATE_DIR)


def _ensure_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"state directory {path}: {exc.strerror or exc}",
            hint="run as root, or choose another directory with --state-dir / MIGCTL_STATE_DIR",
        ) from None


@contextlib.contextmanager
def node_lock(directory: Path, *, timeout: float = 600.0, poll: float = 0.05) -> Iterator[None]:
    """Hold the exclusive apply lock of this node; wait up to ``timeout`` seconds for it."""
    _ensure_dir(directory)
    path = directory / "apply.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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
                if time.monotonic() >= deadline:
                    holder = path.read_text(encoding="utf-8").strip() if path.exists() else ""
                    raise RefusedError(
                        f"another migctl apply holds {path}{f' ({holder})' if holder else ''}; gave up after {timeout:g}s",
                        hint="wait for it to finish, or raise --lock-timeout",
                    ) from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}\n".encode())
        try:
            yield
        finally:
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
        return directory / f"journal-{gpu_uuid}.json"

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
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise InputError(f"journal {path} cannot be read ({exc}); inspect it and remove it to continue") from None
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
