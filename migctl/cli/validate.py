"""``migctl validate config``: lint HAMi device-configs (and the device plugin's node config).

A thin edge over :mod:`migctl.config`: it reads the inputs (files, ``-`` for stdin, or the ConfigMap in
the cluster), calls the core, and renders the report as text, JSON, YAML or SARIF. Only typer and the
standard library are imported at module level.

Exit codes: 0 valid (warnings allowed unless ``--strict``), 1 invalid, 2 usage error or an input that
cannot be read, 3 the cluster cannot be reached.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from migctl.cli.main import app
from migctl.errors import ExitCode, InputError, UnreachableError

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


DEFAULT_NAMES = {"device-config": "hami-scheduler-device", "node-config": "hami-device-plugin"}


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


def read_configmap(namespace: str, name: str, kubeconfig: str | None, context: str | None) -> dict[str, Any]:
    """The ConfigMap's ``data`` through the official client (kubeconfig, else in-cluster config)."""
    try:
        from kubernetes import client, config
        from kubernetes.client.exceptions import ApiException
        from kubernetes.config.config_exception import ConfigException
        from urllib3.exceptions import HTTPError
    except ImportError as exc:  # pragma: no cover - a dependency
        raise UnreachableError(f"the kubernetes client is not installed: {exc}") from exc

    try:
        explicit = kubeconfig or context or os.environ.get("KUBECONFIG")
        default_file = os.path.expanduser("~/.kube/config")
        if explicit or os.path.exists(default_file):
            api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
        else:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            api_client = client.ApiClient(configuration)
    except (ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
        raise UnreachableError(f"cannot load a Kubernetes configuration: {exc}",
                               hint="pass --kubeconfig/--context, or run inside the cluster") from exc
    api_client.configuration.retries = 1
    try:
        with api_client:
            cm = client.CoreV1Api(api_client).read_namespaced_config_map(name, namespace, _request_timeout=(5, 20))
    except ApiException as exc:
        if exc.status == 404:
            raise InputError(f"ConfigMap {namespace}/{name} not found",
                             hint="HAMi's chart names it <release>-scheduler-device; use --namespace/--name") from exc
        raise UnreachableError(f"reading ConfigMap {namespace}/{name} failed: {exc.status} {exc.reason}") from exc
    except (HTTPError, OSError) as exc:
        raise UnreachableError(f"cannot reach the Kubernetes API server: {exc}") from exc
    return dict(cm.data or {})


def _cluster_inputs(namespace: str, name: str | None, kubeconfig: str | None, context: str | None,
                    kind: str, version: str) -> list[LoadedConfig]:
    from migctl.config.diagnostics import diag
    from migctl.config.load import DEVICE_CONFIG_KEY, NODE_CONFIG_KEY, LoadedConfig, load_text

    cm_name = name or DEFAULT_NAMES["node-config" if kind == "node-config" else "device-config"]
    data = read_configmap(namespace, cm_name, kubeconfig, context)
    keys = {"device-config": (DEVICE_CONFIG_KEY,), "node-config": (NODE_CONFIG_KEY,)}.get(
        kind, (DEVICE_CONFIG_KEY, NODE_CONFIG_KEY))
    present = [k for k in keys if k in data]
    if not present:
        wanted = " or ".join(repr(k) for k in keys)
        return [LoadedConfig(f"configmap/{namespace}/{cm_name}", None, [], [
            diag("configmap-key-missing", "", f"ConfigMap {namespace}/{cm_name} has no key {wanted}",
                 f"data keys: {', '.join(sorted(data)) or 'none'}")])]
    results = []
    for key in present:
        key_kind = "node-config" if key == NODE_CONFIG_KEY else "device-config"
        results.append(load_text(str(data[key]), name=f"configmap/{namespace}/{cm_name}/{key}",
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
        "--from-cluster", help="Read the ConfigMap from the cluster (hami-scheduler-device in kube-system).")] = False,
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Namespace of the ConfigMap.")] = "kube-system",
    name: Annotated[str | None, typer.Option(
        "--name", help="ConfigMap name (default hami-scheduler-device; hami-device-plugin with --kind node-config).",
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
            bar.update(f"reading ConfigMap from namespace {namespace}")
            results.extend(_cluster_inputs(namespace, name, kubeconfig, context, kind_value, version_value))
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
