"""Cluster state as HAMi records it: annotation codecs, the cluster model, usage reconstruction.

HAMi concepts only; generic YAML/JSON reading is :mod:`migctl.yamlio`.

- :mod:`migctl.cluster.codecs`: encode/decode every HAMi node and pod annotation format, one set of keys
  (HAMi ``pkg/device/devices.go``, ``plugin/register.go``; ``hami.io/vgpu-mig-allocations`` from v2.10.0).
- :mod:`migctl.cluster.model`: ``Cluster``, ``Node``, ``Pod`` built from Kubernetes objects (plain dicts).
- :mod:`migctl.cluster.quantity`: Kubernetes resource quantities (the one parser).
- :mod:`migctl.cluster.generation`: which HAMi generation a node (and the cluster) runs (v2.9.0 vs v2.10.0).
- :mod:`migctl.cluster.usage`: the scheduler's ``DeviceUsage`` rebuilt from pods (HAMi
  ``pkg/scheduler/scheduler.go`` getNodesUsage); also the simulation's GPU.
- :mod:`migctl.cluster.device_config`: the cluster's device-config, read by :mod:`migctl.config.load`.
- :mod:`migctl.cluster.snapshot`: read/write a ``kubectl get nodes,pods -A -o yaml`` ``v1 List``.
- :mod:`migctl.cluster.kube`: the live reader over the official ``kubernetes`` client (an edge).
- :mod:`migctl.cluster.status`: the per-node, per-GPU picture ``migctl status`` prints.
"""
