"""The scheduler device config as seen from the cluster: the ``hami-scheduler-device`` ConfigMap or ``--config``.

``migctl status`` and ``simulate`` need it for the legacy ``knownMigGeometries`` (the geometry in effect)
and for the resource names. It is read by :func:`migctl.config.load.load_device_config` (the one reader of
the format, here without the linter); a config that does not read becomes a cluster warning, never an error.
"""

from __future__ import annotations

from typing import Any

from migctl.cluster.model import Cluster, ClusterWarning


def parse_device_config(text: str, source: str) -> tuple[Any, list[ClusterWarning]]:
    """``device-config.yaml`` text (or a whole ConfigMap manifest holding it) -> (``DeviceConfig`` or None,
    warnings)."""
    from migctl.config.load import load_device_config

    loaded = load_device_config(text, name=source, kind="device-config", lint=False)
    problem = loaded.problem()
    if problem is not None:
        return None, [ClusterWarning("bad-config", f"{problem}; geometries in effect cannot be shown")]
    return loaded.config, []


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
