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

from migctl.cli.choices import (
    ConfigMapOption,
    ContextOption,
    HamiVersionChoice,
    KubeconfigOption,
    NamespaceOption,
)
from migctl.cli.main import app
from migctl.errors import ExitCode

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




# --- text rendering ------------------------------------------------------------------------------
_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


#: The text report prints at most this many findings per code in each file, then how many more there are;
#: ``-o json|yaml|sarif`` always carry every finding (README "Limits").
MAX_TEXT_FINDINGS_PER_CODE = 20


def _source_excerpt(lines: list[str] | None, line: int | None, column: int | None) -> list[str]:
    """The source line ``line`` (of ``lines``, the file split once) and a caret under ``column``."""
    if lines is None or line is None:
        return []
    if not 0 < line <= len(lines):
        return []
    source = lines[line - 1].replace("\t", " ")
    col = max(1, column or 1)
    start = 0
    if len(source) > 120:  # keep the column in view on very long lines
        start = max(0, col - 60)
        source = source[start : start + 120]
    return [source, " " * (col - 1 - start) + "^"]


def _shown_findings(diagnostics: list[Any], limit: int) -> tuple[list[Any], dict[str, int]]:
    """The findings the text report prints (the first ``limit`` of each code, in order) and, per code, how
    many it leaves out. One pass: linear in the number of findings."""
    seen: dict[str, int] = {}
    shown = []
    for d in diagnostics:
        count = seen.get(d.code, 0) + 1
        seen[d.code] = count
        if count <= limit:
            shown.append(d)
    return shown, {code: count - limit for code, count in seen.items() if count > limit}


def _render_text(results: list[LoadedConfig], report: dict[str, Any], strict: bool,
                 limit: int = MAX_TEXT_FINDINGS_PER_CODE) -> None:
    from rich.markup import escape

    from migctl.cli.output import stdout_console
    from migctl.config.yaml_source import yaml_lines

    console = stdout_console()
    for result in results:
        console.print(f"[bold]{escape(result.source)}[/bold]")
        for found in result.configs[:limit]:
            how = ""
            if found.kind == "device-config":
                how = f", checked for HAMi v{found.version}" if found.version else ", checked for HAMi v2.9 and v2.10"
            console.print(f"  [dim]{found.kind} in {escape(found.origin)}{how}[/dim]", highlight=False, soft_wrap=True)
        if len(result.configs) > limit:
            console.print(f"  [dim]... and {len(result.configs) - limit} more config(s) in this file[/dim]",
                          highlight=False, soft_wrap=True)
        if not result.diagnostics:
            console.print("  [green]ok[/green]: no findings")
        shown, left_out = _shown_findings(result.diagnostics, limit)
        lines = yaml_lines(result.text) if result.text is not None and shown else None  # split once per file
        for d in shown:
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
            excerpt = _source_excerpt(lines, d.line, d.column)
            if excerpt:
                number = f"{d.line:>5} | "
                console.print(f"    [dim]{number}[/dim]{escape(excerpt[0])}", highlight=False, soft_wrap=True)
                console.print(f"    [dim]{' ' * (len(number) - 2)}| [/dim][{_STYLE[severity]}]{excerpt[1]}[/]",
                              highlight=False, soft_wrap=True)
            if d.hint:
                console.print(f"           [dim]hint:[/dim] {escape(d.hint)}", highlight=False, soft_wrap=True)
        for code, more in left_out.items():
            console.print(f"           [dim]... and {more} more {code} finding(s) not shown "
                          f"(the first {limit} of each code are; -o json lists them all)[/dim]",
                          highlight=False, soft_wrap=True)
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
    namespace: NamespaceOption = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="ConfigMap name (default: found by the chart's name suffix or labels).",
        show_default=False)] = None,
    config_map: ConfigMapOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
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
    from migctl.api import validate_config as validate
    from migctl.cli.output import progress, to_json, to_yaml

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
    if "-" in files and sys.stdin is not None and sys.stdin.isatty():
        from migctl.cli.output import warn

        warn("reading the config from the terminal; end it with Ctrl-D")

    with progress("validating", total=len(files) + int(from_cluster)) as bar:
        def step(label: str) -> None:
            bar.update(label)
            bar.advance()

        report = validate(files, from_cluster=from_cluster, namespace=namespace, configmap=config_map or name,
                          kubeconfig=kubeconfig, context=context, kind=kind.value,  # type: ignore[arg-type]
                          hami_version=hami_version.value, strict=strict, on_input=step)  # type: ignore[arg-type]

    results = report.results
    if output is ValidateFormat.json:
        sys.stdout.write(to_json(report.to_dict()))
    elif output is ValidateFormat.yaml:
        sys.stdout.write(to_yaml(report.to_dict()))
    elif output is ValidateFormat.sarif:
        sys.stdout.write(to_json(report.to_sarif()))
    else:
        _render_text(results, report.to_dict(), strict)
    sys.stdout.flush()

    if report.unreadable:
        raise typer.Exit(int(ExitCode.USAGE))
    if not report.valid:
        raise typer.Exit(int(ExitCode.FAILED))
