"""HAMi device-config: the lenient model HAMi itself would use, and the linter behind `migctl validate config`.

- :mod:`migctl.config.model` -- ``DeviceConfig`` / ``NvidiaConfig`` / ``NodeConfigFile`` as HAMi reads them;
- :mod:`migctl.config.yaml_source` -- a bounded YAML loader that keeps line and column per JSON Pointer;
- :mod:`migctl.config.schema` -- the shipped JSON Schema (``schemas/device-config.schema.json``) and its findings;
- :mod:`migctl.config.checks` -- the semantic and hardware checks (HAMi pkg/scheduler/config/config.go and more);
- :mod:`migctl.config.load` -- finds every config in a file (raw, ConfigMap, List, node JSON) and locates findings;
- :mod:`migctl.config.diagnostics` -- ``Diagnostic`` and the table of stable codes; :mod:`migctl.config.sarif`.
"""
