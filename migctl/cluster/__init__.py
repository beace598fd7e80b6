"""Cluster state as HAMi records it: annotation codecs, the cluster model, usage reconstruction.

- :mod:`migctl.cluster.codecs`: encode/decode every HAMi node and pod annotation format (``hami.md`` §2–3).
- :mod:`migctl.cluster.model`: ``Cluster``, ``Node``, ``Pod`` built from Kubernetes objects (plain dicts).
- :mod:`migctl.cluster.generation`: which HAMi generation a node (and the cluster) runs (``hami.md`` §8).
- :mod:`migctl.cluster.usage`: the scheduler's ``DeviceUsage`` rebuilt from pods (``hami.md`` §2.3).
- :mod:`migctl.cluster.snapshot`: read/write a ``kubectl get nodes,pods -A -o yaml`` ``v1 List``.
- :mod:`migctl.cluster.kube`: the live reader over the official ``kubernetes`` client (an edge).
- :mod:`migctl.cluster.status`: the per-node, per-GPU picture ``migctl status`` prints.
"""
