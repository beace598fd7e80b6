"""Trace replay: a workload's pods arrive and leave over time, HAMi's scheduler places each one.

Pure core (no I/O: the CLI reads files and passes text). The pieces:

- :mod:`~migctl.replay.trace`: :class:`Trace` / :class:`Task` (arrival, duration, a Pod spec or a trace
  ask) and the mapping rule from a trace's GPU share to a HAMi request (:func:`gpu_request`);
- :mod:`~migctl.replay.openb`: the openb CSVs (:func:`parse_pod_list`, :func:`parse_node_list`);
  :mod:`~migctl.replay.podyaml`: Pod YAML with ``migctl.io/arrival`` / ``migctl.io/duration``;
- :mod:`~migctl.replay.cluster`: the node list mapped to a MIG-capable model, ``--mig-nodes``;
- :mod:`~migctl.replay.engine`: the event-driven replay over a :class:`migctl.simulate.Simulator`
  (departures through :class:`migctl.simulate.release.Departures`);
- :mod:`~migctl.replay.run`: one variant end to end (:func:`run_variant`, picklable in and out, for
  worker processes), variants as ``KEY=VALUE`` overrides, :func:`compare`;
- :mod:`~migctl.replay.fragmentation`: the ``fgd`` series (``migctl capacity``'s measure);
  :mod:`~migctl.replay.plot`: ``--plot`` (matplotlib, optional).

Typical use::

    trace = parse_pod_list(text, "pods.csv")
    nodes = ClusterInput(nodes=tuple(parse_node_list(node_text, "nodes.csv")))
    figures = run_variant(trace, nodes, Settings(device_config=cfg, hami_version="2.9"), "base")
    figures.to_dict()   # one entry of `migctl replay -o json`'s "variants"
"""

from migctl.replay.engine import ReplayFigures, ReplayOptions, Sample, replay
from migctl.replay.openb import TraceNode, parse_node_list, parse_pod_list
from migctl.replay.podyaml import trace_from_documents
from migctl.replay.run import ClusterInput, Settings, apply_variant, compare, run_variant
from migctl.replay.trace import GpuAsk, Task, Trace, TraceError, gpu_request

__all__ = [
    "ClusterInput", "GpuAsk", "ReplayFigures", "ReplayOptions", "Sample", "Settings", "Task", "Trace", "TraceError",
    "TraceNode", "apply_variant", "compare", "gpu_request", "parse_node_list", "parse_pod_list", "replay",
    "run_variant", "trace_from_documents",
]
