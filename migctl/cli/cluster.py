"""``migctl cluster snapshot``: save the live cluster's Nodes, Pods and device ConfigMap to a file.

``-o json|yaml`` is the format and ``-f/--file`` the file (stdout by default), as in kubectl. The
file is a ``v1 List`` in kubectl's layout (what ``kubectl get nodes,pods -A -o yaml`` prints, without
``managedFields``), readable by ``migctl status --cluster`` and ``migctl simulate --cluster``. It is
written to a temporary file beside the target and renamed at the end: an interrupted or failed run never
leaves half a snapshot.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from migctl.cli.choices import ConfigMapOption, ContextOption, KubeconfigOption, NamespaceOption
from migctl.cli.main import app

cluster_app = typer.Typer(
    name="cluster",
    help="Work with the cluster state HAMi records (snapshots for offline status and simulate).",
    no_args_is_help=True,
)
app.add_typer(cluster_app, name="cluster")


@cluster_app.command("snapshot")
def snapshot_command(
    file: Annotated[
        str,
        typer.Option("-f", "--file", metavar="FILE",
                     help="File to write ('-', the default: stdout). Written atomically; never a "
                          "directory, device or symlink."),
    ] = "-",
    output: Annotated[
        str | None,
        typer.Option("-o", "--output", metavar="FORMAT",
                     help="json or yaml (default: from the file's extension, .json for JSON, else YAML)."),
    ] = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    config_map: ConfigMapOption = None,
    all_pods: Annotated[bool, typer.Option("--all-pods", help="Also save Succeeded/Failed pods.")] = False,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=10000,
                                           help="Objects per LIST page from the API server.")] = 500,
) -> None:
    """Save Nodes, Pods and the hami-scheduler-device ConfigMap of the live cluster (stdout or -f FILE)."""
    from migctl.cli.output import progress, stderr_console
    from migctl.cluster.kube import connect, list_objects
    from migctl.cluster.model import ClusterWarning

    fmt = snapshot_format(file, output)
    target = None if file == "-" else check_output_path(Path(file))
    session = connect(kubeconfig, context)
    warnings: list[ClusterWarning] = []
    counts: dict[str, int] = {}
    used: list[dict[str, Any]] = []

    def objects() -> Any:
        with progress("Listing nodes and pods") as bar:
            for obj in list_objects(session, page_size=page_size, active_pods_only=not all_pods, warnings=warnings,
                                    namespace=namespace, config_map=config_map, on_config_map=used.append):
                counts[obj["kind"]] = counts.get(obj["kind"], 0) + 1
                bar.advance()
                yield obj

    if target is None:
        _write(objects(), sys.stdout, fmt)
    else:
        write_atomically(target, lambda fh: _write(objects(), fh, fmt))
    from migctl.cli.output import warn

    for w in warnings:
        warn(w.message)
    if used:
        from migctl.cluster.kube import describe_config_map

        sys.stderr.write(f"using {describe_config_map(used[0])}\n")
    summary = ", ".join(f"{counts.get(k, 0)} {k}" + ("" if counts.get(k, 0) == 1 else "s")
                        for k in ("Node", "Pod", "ConfigMap"))
    where = "stdout" if target is None else str(target)
    stderr_console().print(f"wrote {summary} from {session.where} to {where}", markup=False, highlight=False,
                           soft_wrap=True)


def snapshot_format(file: str, output: str | None) -> str:
    """The format of ``cluster snapshot``: ``-o`` when given, else the file's extension.

    ``-o`` is a format, as in kubectl. A value that is not one (``-o cluster.json``, the old spelling
    of the file) or one that contradicts the file's extension (``-f x.json -o yaml``) is a usage error,
    never a guess.
    """
    from migctl.errors import InputError

    by_extension = "json" if file.lower().endswith(".json") else "yaml"
    if output is None:
        return by_extension
    fmt = output.lower()
    if fmt not in ("json", "yaml"):
        hint = f"-f {output}" if file == "-" and ("." in output or "/" in output or output == "-") else None
        raise InputError(f"-o/--output {output!r}: the format is json or yaml; the file is given with -f/--file",
                         hint=f"write to a file with {hint}" if hint else "e.g. -o json -f cluster.json")
    if file != "-" and file.lower().endswith((".json", ".yaml", ".yml")) and fmt != by_extension:
        raise InputError(f"-o {fmt} contradicts the file name {file!r} (a {by_extension.upper()} extension)",
                         hint="drop -o to follow the extension, or name the file to match the format")
    return fmt


def check_output_path(path: Path) -> Path:
    """Refuse an output path that is not (or cannot become) a regular file: exit 2 before any work."""
    import stat

    from migctl.errors import InputError

    try:
        info = path.lstat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise InputError(f"-f {path}: {exc.strerror or exc}") from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise InputError(f"-f {path}: is a symbolic link; refusing to write through it",
                             hint="give the link's target, or a new file name")
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"-f {path}: is a directory", hint="give a file name inside it")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"-f {path}: is not a regular file (a device, FIFO or socket)",
                             hint="use '-f -' (stdout) to write to a pipe or device")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"-f {path}: directory {directory} does not exist")
    return path


def write_atomically(path: Path, write: Any) -> None:
    """Call ``write(fh)`` on a temporary file beside ``path``, then rename it over ``path``.

    A failure (no space, no permission, an error while listing) leaves ``path`` as it was and no
    temporary file behind; a disk or permission problem is exit 2 with the path named.
    """
    from migctl.errors import InputError

    check_output_path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"-f {path}: cannot create a file in {directory}: {exc.strerror or exc}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # what a plain open() would give, not mkstemp's 0600
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _unlink_quietly(tmp)
        if isinstance(exc, BrokenPipeError):  # pragma: no cover - not a file error
            raise
        raise InputError(f"-f {path}: cannot write: {exc.strerror or exc}; nothing was written") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _write(objects: Any, fh: Any, fmt: str) -> None:
    """Stream a v1 List: items one at a time, so a large cluster never sits in memory whole."""
    import json

    import yaml

    if fmt == "json":
        fh.write('{\n"apiVersion": "v1",\n"items": [\n')
        first = True
        for obj in objects:
            if not first:
                fh.write(",\n")
            fh.write(json.dumps(obj, ensure_ascii=False))
            first = False
        fh.write('\n],\n"kind": "List",\n"metadata": {"resourceVersion": ""}\n}\n')
        return
    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    fh.write("apiVersion: v1\nitems:\n")
    for obj in objects:
        fh.write(yaml.dump([obj], Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False))
    fh.write('kind: List\nmetadata:\n  resourceVersion: ""\n')
