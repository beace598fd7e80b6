"""The node daemon: watch this node's desired MIG geometry, apply it, report back.

- :mod:`migctl.node_protocol` — the Node annotation protocol (pure codec).
- :mod:`migctl.daemon.reconcile` — what to do for one observation of the Node (pure decision).
- :mod:`migctl.daemon.engine` — the apply engine the daemon drives (a Protocol + the NVML-backed one).
- :mod:`migctl.daemon.kube` — the Kubernetes edge: get/watch/patch the Node, create Events.
- :mod:`migctl.daemon.metrics` — counters and the ``/healthz`` + ``/metrics`` HTTP server.
- :mod:`migctl.config.migparted` — compatibility with NVIDIA's ``nvidia.com/mig.config`` label.
- :mod:`migctl.daemon.loop` — the daemon itself: one reconcile step, the watch thread, shutdown.
"""
