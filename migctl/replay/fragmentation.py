"""The ``fgd`` series of a replay: ``migctl capacity``'s fragmentation measure, workload = the trace.

The workload is the trace's own shape distribution (:func:`migctl.capacity.shapes.shapes_from_pods`
over the pods the replay submits: each distinct GPU request weighted by its share of the GPU pods), and
the figure is :func:`migctl.capacity.fragmentation.cluster_fragmentation`'s ``fgd``: the expected
stranded free GPU memory over the free GPU memory (0..1). One cache per replay: a sample recomputes only
the nodes that changed since the previous sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def fgd_probe(pods: Sequence[Any], state: Any, config: Any, options: Any) -> Callable[[], float] | None:
    """A function giving the cluster's FGD now (None when no pod asks for a GPU)."""
    from migctl.capacity.fragmentation import FragmentationCache, cluster_fragmentation
    from migctl.capacity.shapes import ShapeError, shapes_from_pods

    try:
        shapes, _notes = shapes_from_pods(list(pods), config)
    except ShapeError:
        return None
    if not shapes:
        return None
    cache = FragmentationCache()

    def probe() -> float:
        return cluster_fragmentation(state, config, options, shapes, cache=cache).fgd

    return probe
