"""``migctl validate schema-path``: where the installed device-config JSON Schema is (editor set-up).

Point yaml-language-server at it with a modeline on the first line of a raw device-config.yaml::

    # yaml-language-server: $schema=/path/printed/by/migctl/validate/schema-path

A ConfigMap's ``device-config.yaml`` block scalar cannot carry a modeline (the editor sees one
YAML string): check those with ``migctl validate config``.
"""

from __future__ import annotations

import sys

from migctl.cli.output import OutputFormat, OutputOption, emit
from migctl.cli.validate import validate_app


@validate_app.command("schema-path")
def schema_path_command(output: OutputOption = OutputFormat.text) -> None:
    """Print the path of the installed device-config JSON Schema (for editors; see README "Editors")."""
    from migctl.config.schema import device_config_schema, schema_path

    path = schema_path()
    data = {"path": str(path), "uri": path.as_uri(), "id": device_config_schema()["$id"],
            "modeline": f"# yaml-language-server: $schema={path}"}
    emit(data, output, lambda: sys.stdout.write(f"{path}\n"))
