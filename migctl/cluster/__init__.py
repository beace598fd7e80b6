"""Cluster state as HAMi records it: annotation codecs, the cluster model, usage reconstruction.

- :mod:`migctl.cluster.codecs`: encode/decode every HAMi node and pod annotation format (HAMi pkg/device/devices.go; HAMi pkg/device/devices.go EncodePodSingleDevice).
- :mod:`migctl.cluster.model`: ``Cluster``, ``Node``, ``Pod`` built from Kubernetes objects (plain dicts).
- :mod:`migctl.cluster.generation`: which HAMi generation a node (and the cluster) runs (HAMi v2.9.0 and v2.10.0 (PR #2378)).
- :mod:`migctl.cluster.usage`: the scheduler's ``DeviceUsage`` rebuilt from pods (HAMi pkg/scheduler/scheduler.go getNodesUsage).
- :mod:`migctl.cluster.snapshot`: read/write a ``kubectl get nodes,pods -A -o yaml`` ``v1 List``.
- :mod:`migctl.cluster.kube`: the live reader over the official ``kubernetes`` client (an edge).
- :mod:`migctl.cluster.status`: the per-node, per-GPU picture ``migctl status`` prints.
"""
