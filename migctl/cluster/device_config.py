"""The scheduler device config as seen from the cluster: the ``hami-scheduler-device`` ConfigMap or ``--config``.

``migctl status`` and ``simulate`` need it for the legacy ``knownMigGeometries`` (the geometry in effect)
and for the resource names. A config that does not parse becomes a cluster warning, never an error.
"""

from __future__ import annotations

from typing import Any

from migctl.cluster.model import DEVICE_CONFIGMAP_KEY, Cluster, ClusterWarning


def parse_device_config(text: str, source: str) -> tuple[Any, list[ClusterWarning]]:
    """``device-config.yaml`` text (or a whole ConfigMap manifest holding it) -> (``DeviceConfig`` or None,
    warnings)."""
    import yaml

    from migctl.config.model import DeviceConfig

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        return None, [ClusterWarning("bad-config", f"{source}{where}: device-config.yaml is not valid YAML; "
                                                   "geometries in effect cannot be shown")]
    if not isinstance(data, dict):
        return None, [ClusterWarning("bad-config", f"{source}: device-config.yaml is not a mapping")]
    if data.get("kind") == "ConfigMap":  # the whole hami-scheduler-device manifest: use its key
        inner = data.get("data").get(DEVICE_CONFIGMAP_KEY) if isinstance(data.get("data"), dict) else None
        if not isinstance(inner, str):
            return None, [ClusterWarning("bad-config", f"{source}: the ConfigMap has no data key "
                                                       f"{DEVICE_CONFIGMAP_KEY!r}")]
        return parse_device_config(inner, f"{source} (key {DEVICE_CONFIGMAP_KEY})")
    return DeviceConfig.from_dict(data), []


def attach_device_config(cluster: Cluster, text: str | None = None, source: str | None = None) -> None:
    """Set ``cluster.device_config`` from ``text`` (``--config``) or the snapshot's ConfigMap text."""
    if text is not None:
        cluster.device_config_text = text
        cluster.device_config_source = source or "--config"
    if cluster.device_config_text is None:
        return
    config, warnings = parse_device_config(cluster.device_config_text, cluster.device_config_source or "config")
    cluster.device_config = config
    cluster.warnings.extend(warnings)
