"""``migctl cluster snapshot``: save the live cluster's Nodes, Pods and device ConfigMap to a file.

The file is a ``v1 List`` in kubectl's layout (what ``kubectl get nodes,pods -A -o yaml`` prints, without
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

from migctl.cli.main import app

cluster_app = typer.Typer(
    name="cluster",
    help="Work with the cluster state HAMi records (snapshots for offline status and simulate).",
    no_args_is_help=True,
)
app.add_typer(cluster_app, name="cluster")


@cluster_app.command("snapshot")
def snapshot_command(
    output: Annotated[
        str,
        typer.Option("-o", "--output", metavar="FILE",
                     help="File to write (.json for JSON, otherwise YAML); '-' for stdout."),
    ],
    kubeconfig: Annotated[str | None, typer.Option("--kubeconfig", metavar="FILE",
                                                   help="Path to the kubeconfig file.")] = None,
    context: Annotated[str | None, typer.Option("--context", metavar="NAME",
                                                help="The kubeconfig context to use.")] = None,
    namespace: Annotated[str | None, typer.Option(
        "-n", "--namespace", metavar="NAMESPACE", show_default=False,
        help="Namespace HAMi is installed in, where its ConfigMap is found (default: every namespace).")] = None,
    config_map: Annotated[str | None, typer.Option(
        "--config-map", metavar="NAMESPACE/NAME", show_default=False,
        help="HAMi's scheduler device ConfigMap to save (default: found by the Helm chart's name or labels).")] = None,
    all_pods: Annotated[bool, typer.Option("--all-pods", help="Also save Succeeded/Failed pods.")] = False,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=10000,
                                           help="Objects per LIST page from the API server.")] = 500,
) -> None:
    """Save Nodes, Pods and the hami-scheduler-device ConfigMap of the live cluster to a file."""
    from migctl.cli.output import progress, stderr_console
    from migctl.cluster.kube import connect, list_objects
    from migctl.cluster.model import ClusterWarning

    fmt = "json" if output.lower().endswith(".json") else "yaml"
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

    if output == "-":
        _write(objects(), sys.stdout, fmt)
    else:
        _write_atomically(Path(output), objects(), fmt)
    from migctl.cli.output import warn

    for w in warnings:
        warn(w.message)
    if used:
        from migctl.cluster.kube import describe_config_map

        sys.stderr.write(f"using {describe_config_map(used[0])}\n")
    summary = ", ".join(f"{counts.get(k, 0)} {k}" + ("" if counts.get(k, 0) == 1 else "s")
                        for k in ("Node", "Pod", "ConfigMap"))
    stderr_console().print(f"wrote {summary} from {session.where} to {output}", markup=False, highlight=False,
                           soft_wrap=True)


def _write_atomically(path: Path, objects: Any, fmt: str) -> None:
    from migctl.errors import InputError

    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"-o: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            _write(objects, fh, fmt)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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
