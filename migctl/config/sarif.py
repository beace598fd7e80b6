"""SARIF 2.1.0 for code-scanning tools (GitHub code scanning, VS Code SARIF viewer).

One run, tool ``migctl``; one rule per diagnostic code (from :data:`migctl.config.diagnostics.CODES`);
one result per diagnostic with its file, line and column, and the JSON Pointer as a logical location.
Each rule links to the README's table of codes (``helpUri``: the section anchor, plus a text fragment
that browsers which support it use to scroll to the code's own row); the tool links to the README.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from migctl import README_URL, __url__
from migctl.config.diagnostics import CODES, Severity

if TYPE_CHECKING:
    from migctl.config.load import LoadedConfig

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
CODES_SECTION = "diagnostic-codes"  # README: "### Diagnostic codes" under "migctl validate config"
_LEVEL = {Severity.error: "error", Severity.warning: "warning", Severity.info: "note"}


def _uri(source: str) -> str:
    """A URI reference for the input: the path as given, percent-encoded (``<stdin>`` -> ``%3Cstdin%3E``)."""
    from urllib.parse import quote

    uri = source.replace("\\", "/")
    uri = uri[2:] if uri.startswith("./") else uri
    return quote(uri, safe="/:@-._~")


def help_uri(code: str) -> str:
    """The README row of ``code``: section anchor, then a text fragment (``#section:~:text=code``)."""
    return f"{README_URL}#{CODES_SECTION}:~:text={quote(code, safe='')}"


def to_sarif(results: Iterable[LoadedConfig], *, version: str, strict: bool = False) -> dict[str, Any]:
    results = list(results)
    used = sorted({d.code for r in results for d in r.diagnostics})
    rules = [
        {
            "id": code,
            "name": "".join(part.capitalize() for part in code.split("-")),
            "shortDescription": {"text": CODES[code].summary},
            "help": {"text": f"{CODES[code].summary} See the README section 'Diagnostic codes'."},
            "helpUri": help_uri(code),
            "defaultConfiguration": {"level": _LEVEL[CODES[code].severity]},
        }
        for code in used
    ]
    index = {code: i for i, code in enumerate(used)}
    sarif_results = []
    for result in results:
        for d in result.diagnostics:
            level = _LEVEL[d.severity]
            if strict and d.severity is Severity.warning:
                level = "error"
            region: dict[str, Any] = {}
            if d.line is not None:
                region["startLine"] = d.line
                if d.column is not None:
                    region["startColumn"] = d.column
            physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(result.source)}}
            if region:
                physical["region"] = region
            location: dict[str, Any] = {"physicalLocation": physical}
            if d.path:
                location["logicalLocations"] = [{"fullyQualifiedName": d.path, "kind": "member"}]
            text = d.message + (f" (hint: {d.hint})" if d.hint else "")
            sarif_results.append({
                "ruleId": d.code,
                "ruleIndex": index[d.code],
                "level": level,
                "message": {"text": text},
                "locations": [location],
            })
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "migctl", "version": version, "informationUri": __url__,
                                    "rules": rules}},
                "results": sarif_results,
            }
        ],
    }
