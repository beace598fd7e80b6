"""How much more fits, and how much GPU sits free but unusable (``migctl capacity``).

Pure core on top of the simulator (:mod:`migctl.simulate`): every answer is HAMi's placement, not an
estimate.

- :mod:`~migctl.capacity.shapes`: :class:`Shape`, one pod's GPU request, and the pod that asks for it;
- :mod:`~migctl.capacity.fragmentation`: stranded capacity, the FGD measure per GPU, node and cluster;
- :mod:`~migctl.capacity.headroom`: how many more pods of a shape HAMi would place, where, and why the
  next one stays Pending;
- :mod:`~migctl.capacity.report`: the whole ``migctl capacity`` report for a cluster.
"""

from migctl.capacity.fragmentation import (
    Fragmentation,
    FragmentationCache,
    GpuFragmentation,
    NodeFragmentation,
    cluster_fragmentation,
    node_fragmentation,
)
from migctl.capacity.headroom import Headroom, headroom
from migctl.capacity.report import CapacityReport, ShapeCapacity, capacity_report
from migctl.capacity.shapes import Shape, ShapeError, default_shapes, shapes_from_pods

__all__ = [
    "CapacityReport", "Fragmentation", "FragmentationCache", "GpuFragmentation", "Headroom", "NodeFragmentation",
    "Shape", "ShapeCapacity", "ShapeError", "capacity_report", "cluster_fragmentation", "default_shapes", "headroom",
    "node_fragmentation", "shapes_from_pods",
]
