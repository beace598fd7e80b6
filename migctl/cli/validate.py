"""``migctl validate config``: lint HAMi device-configs (and the device plugin's node config).

A thin edge over :mod:`migctl.config`: it reads the inputs (files, ``-`` for stdin, or the ConfigMap in
the cluster), calls the core, and renders the report as text, JSON, YAML or SARIF. Only typer and the
standard library are imported at module level.

Exit codes: 0 valid (warnings allowed unless ``--strict``), 1 invalid, 2 usage error or an input that
cannot be read, 3 the cluster cannot be reached.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from migctl.cli.main import app
from migctl.errors import ExitCode, InputError

if TYPE_CHECKING:
    from migctl.config.load import LoadedConfig

validate_app = typer.Typer(
    name="validate",
    help="Lint configuration against the schema and the real MIG hardware rules.",
    no_args_is_help=True,
)
app.add_typer(validate_app, name="validate")


class ValidateFormat(str, Enum):
    text = "text"
    json = "json"
    yaml = "yaml"
    sarif = "sarif"


class ConfigKindChoice(str, Enum):
    auto = "auto"
    device_config = "device-config"
    node_config = "node-config"


class HamiVersionChoice(str, Enum):
    auto = "auto"
    v2_9 = "2.9"
    v2_10 = "2.10"


def _report(results: list[LoadedConfig], strict: bool) -> dict[str, Any]:
    diagnostics = []
    for result in results:
        for d in result.diagnostics:
            item = d.to_dict()
            item["file"] = result.source
            diagnostics.append(item)
    errors = sum(r.errors for r in results)
    warnings = sum(r.warnings for r in results)
    return {
        "valid": errors == 0 and not (strict and warnings) and not any(r.unreadable for r in results),
        "errors": errors,
        "warnings": warnings,
        "diagnostics": diagnostics,
        "files": [
            {
                "file": r.source,
                "configs": [{"kind": c.kind, "origin": c.origin, "hami_version": c.version} for c in r.configs],
            }
            for r in results
        ],
    }


# --- text rendering ------------------------------------------------------------------------------
_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _source_excerpt(text: str | None, line: int | None, column: int | None) -> list[str]:
    if text is None or line is None:
        return []
    from migctl.config.yaml_source import yaml_lines

    lines = yaml_lines(text)
    if not 0 < line <= len(lines):
        return []
    source = lines[line - 1].replace("\t", " ")
    col = max(1, column or 1)
    start = 0
    if len(source) > 120:  # keep the column in view on very long lines
        start = max(0, col - 60)
        source = source[start : start + 120]
    return [source, " " * (col - 1 - start) + "^"]


def _render_text(results: list[LoadedConfig], report: dict[str, Any], strict: bool) -> None:
    from rich.markup import escape

    from migctl.cli.output import stdout_console

    console = stdout_console()
    for result in results:
        console.print(f"[bold]{escape(result.source)}[/bold]")
        for found in result.configs:
            how = ""
            if found.kind == "device-config":
                how = f", checked for HAMi v{found.version}" if found.version else ", checked for HAMi v2.9 and v2.10"
            console.print(f"  [dim]{found.kind} in {escape(found.origin)}{how}[/dim]", highlight=False, soft_wrap=True)
        if not result.diagnostics:
            console.print("  [green]ok[/green]: no findings")
        for d in result.diagnostics:
            severity = d.severity.value
            if strict and severity == "warning":
                severity = "error"
            where = "-" if d.line is None else (f"{d.line}" if d.column is None else f"{d.line}:{d.column}")
            path = f" [dim]{escape(d.path)}[/dim]" if d.path else ""
            console.print(
                f"  {where:>7}  [{_STYLE[severity]}]{severity:<7}[/]  [bold]{d.code}[/bold]{path}",
                highlight=False, soft_wrap=True,
            )
            console.print(f"           {escape(d.message)}", highlight=False, soft_wrap=True)
            excerpt = _source_excerpt(result.text, d.line, d.column)
            if excerpt:
                number = f"{d.line:>5} | "
                console.print(f"    [dim]{number}[/dim]{escape(excerpt[0])}", highlight=False, soft_wrap=True)
                console.print(f"    [dim]{' ' * (len(number) - 2)}| [/dim][{_STYLE[severity]}]{excerpt[1]}[/]",
                              highlight=False, soft_wrap=True)
            if d.hint:
                console.print(f"           [dim]hint:[/dim] {escape(d.hint)}", highlight=False, soft_wrap=True)
        console.print()
    infos = sum(1 for r in results for d in r.diagnostics if d.severity.value == "info")
    files = len(results)
    summary = (f"{report['errors']} error(s), {report['warnings']} warning(s), {infos} note(s) "
               f"in {files} file{'s' if files != 1 else ''}")
    if report["valid"]:
        console.print(f"[green]valid[/green]: {summary}")
    else:
        reason = " (--strict: warnings count as errors)" if strict and not report["errors"] else ""
        console.print(f"[bold red]invalid[/bold red]: {summary}{reason}")


# --- inputs --------------------------------------------------------------------------------------
def _read_stdin(kind: str, version: str) -> LoadedConfig:
    from migctl.config.load import MAX_BYTES, load_bytes

    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise InputError("'-' reads the config from stdin, but there is no stdin")
    if sys.stdin.isatty():
        from migctl.cli.output import warn

        warn("reading the config from the terminal; end it with Ctrl-D")
    try:
        data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read stdin: {exc}") from exc
    return load_bytes(data, name="<stdin>", kind=kind, hami_version=version)  # type: ignore[arg-type]


def read_configmap(namespace: str | None, name: str | None, kubeconfig: str | None, context: str | None,
                   kind: str = "device-config") -> tuple[str, dict[str, Any]]:
    """``(NAMESPACE/NAME, data)`` of HAMi's ConfigMap, found like ``status`` finds it
    (:func:`migctl.cluster.kube.find_config_map`: the chart's names and labels, any namespace unless given)."""
    from migctl.cluster.kube import DEVICE_PLUGIN_CONFIG, SCHEDULER_DEVICE_CONFIG, find_config_map
    from migctl.kube import connect

    wanted = DEVICE_PLUGIN_CONFIG if kind == "node-config" else SCHEDULER_DEVICE_CONFIG
    client = connect(kubeconfig, context)
    try:
        found = find_config_map(client, wanted, namespace=namespace, name=name)
    finally:
        client.close()
    if found is None:
        where = f"namespace {namespace}" if namespace else "any namespace"
        default = f"{namespace or 'kube-system'}/{name or wanted.default_name}"
        raise InputError(f"ConfigMap {default} not found, nor any other {wanted.what} in {where} "
                         f"(named <release>{wanted.suffix} or labelled app.kubernetes.io/component={wanted.component},"
                         f" with the key {wanted.key})",
                         hint="choose it with --config-map NAMESPACE/NAME; kubectl get cm -A lists them")
    meta = found.get("metadata") or {}
    ref = f"{meta.get('namespace') or 'default'}/{meta.get('name')}"
    sys.stderr.write(f"using ConfigMap {ref}\n")
    data = found.get("data") if isinstance(found.get("data"), dict) else {}
    return ref, dict(data)


def _cluster_inputs(namespace: str | None, name: str | None, kubeconfig: str | None, context: str | None,
                    kind: str, version: str) -> list[LoadedConfig]:
    from migctl.config.diagnostics import diag
    from migctl.config.load import DEVICE_CONFIG_KEY, NODE_CONFIG_KEY, LoadedConfig, load_text

    ref, data = read_configmap(namespace, name, kubeconfig, context, kind)
    keys = {"device-config": (DEVICE_CONFIG_KEY,), "node-config": (NODE_CONFIG_KEY,)}.get(
        kind, (DEVICE_CONFIG_KEY, NODE_CONFIG_KEY))
    present = [k for k in keys if k in data]
    if not present:
        wanted = " or ".join(repr(k) for k in keys)
        return [LoadedConfig(f"configmap/{ref}", None, [], [
            diag("configmap-key-missing", "", f"ConfigMap {ref} has no key {wanted}",
                 f"data keys: {', '.join(sorted(data)) or 'none'}")])]
    results = []
    for key in present:
        key_kind = "node-config" if key == NODE_CONFIG_KEY else "device-config"
        results.append(load_text(str(data[key]), name=f"configmap/{ref}/{key}",
                                 kind=key_kind, hami_version=version))  # type: ignore[arg-type]
    return results


@validate_app.command("config")
def validate_config(
    files: Annotated[list[str] | None, typer.Argument(
        metavar="FILE",
        help="device-config.yaml, a ConfigMap manifest (also 'kubectl get cm -o yaml' output, multi-document "
             "files), or the device plugin's config.json; '-' reads stdin.",
        show_default=False)] = None,
    from_cluster: Annotated[bool, typer.Option(
        "--from-cluster", help="Read HAMi's ConfigMap from the cluster: found by the Helm chart's name "
                               "(<release>-hami-scheduler-device, or -device-plugin with --kind node-config) or "
                               "labels in any namespace.")] = False,
    namespace: Annotated[str | None, typer.Option(
        "--namespace", "-n", help="Namespace HAMi is installed in (default: search every namespace).",
        show_default=False)] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="ConfigMap name (default: found by the chart's name suffix or labels).",
        show_default=False)] = None,
    config_map: Annotated[str | None, typer.Option(
        "--config-map", metavar="NAMESPACE/NAME", help="The ConfigMap to read (instead of finding it).",
        show_default=False)] = None,
    kubeconfig: Annotated[str | None, typer.Option("--kubeconfig", help="Path to a kubeconfig file.",
                                                   show_default=False)] = None,
    context: Annotated[str | None, typer.Option("--context", help="kubeconfig context to use.",
                                                show_default=False)] = None,
    kind: Annotated[ConfigKindChoice, typer.Option(
        "--kind", help="What the input is: detected from its content, or forced.", case_sensitive=False)
    ] = ConfigKindChoice.auto,
    hami_version: Annotated[HamiVersionChoice, typer.Option(
        "--hami-version",
        help="HAMi generation the config is for: 2.9 (knownMigGeometries), 2.10 (migProfileAllowlist); "
             "auto infers it from the key present.")] = HamiVersionChoice.auto,
    strict: Annotated[bool, typer.Option("--strict", help="Warnings count as errors.")] = False,
    output: Annotated[ValidateFormat, typer.Option(
        "-o", "--output", help="Output format: text for people; json, yaml or sarif (code scanning) on stdout.",
        case_sensitive=False)] = ValidateFormat.text,
) -> None:
    """Lint a HAMi device-config against its JSON Schema and the real MIG hardware rules.

    Exit codes: 0 valid (warnings allowed), 1 invalid, 2 usage error or unreadable input, 3 cluster unreachable.
    """
    from migctl.cli.output import progress, to_json, to_yaml
    from migctl.config.load import load_path

    files = list(files or [])
    if not from_cluster and (namespace, name, config_map) != (None, None, None):
        raise typer.BadParameter("-n/--namespace, --name and --config-map read the cluster: add --from-cluster",
                                 param_hint="--from-cluster")
    if config_map is not None and name is not None:
        raise typer.BadParameter("give --config-map NAMESPACE/NAME or --name, not both", param_hint="--config-map")
    if not files and not from_cluster:
        raise typer.BadParameter("give at least one FILE ('-' for stdin) or --from-cluster", param_hint="FILE")
    if files.count("-") > 1:
        raise typer.BadParameter("'-' (stdin) can be given once", param_hint="FILE")

    kind_value, version_value = kind.value, hami_version.value
    results: list[LoadedConfig] = []
    with progress("validating", total=len(files) + int(from_cluster)) as bar:
        for path in files:
            bar.update(f"validating {path}")
            if path == "-":
                results.append(_read_stdin(kind_value, version_value))
            else:
                results.append(load_path(path, kind=kind_value, hami_version=version_value))  # type: ignore[arg-type]
            bar.advance()
        if from_cluster:
            from migctl.cluster.kube import parse_config_map_ref

            cm_namespace, cm_name = parse_config_map_ref(config_map or name, namespace)
            bar.update("reading HAMi's ConfigMap from the cluster")
            results.extend(_cluster_inputs(cm_namespace, cm_name, kubeconfig, context, kind_value, version_value))
            bar.advance()

    report = _report(results, strict)
    if output is ValidateFormat.json:
        sys.stdout.write(to_json(report))
    elif output is ValidateFormat.yaml:
        sys.stdout.write(to_yaml(report))
    elif output is ValidateFormat.sarif:
        from migctl import __version__
        from migctl.config.sarif import to_sarif

        sys.stdout.write(to_json(to_sarif(results, version=__version__, strict=strict)))
    else:
        _render_text(results, report, strict)
    sys.stdout.flush()

    if any(r.unreadable for r in results):
        raise typer.Exit(int(ExitCode.USAGE))
    if not report["valid"]:
        raise typer.Exit(int(ExitCode.FAILED))
