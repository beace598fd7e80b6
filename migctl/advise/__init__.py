"""``migctl advise``: propose a better design and prove it with the simulator before anyone touches the cluster.

Pure core on top of :mod:`migctl.simulate`, :mod:`migctl.capacity` and :mod:`migctl.replay`.

- :mod:`~migctl.advise.world`: a cluster the advisor changes (delete running pods as HAMi's rebuild
  sees it, place pods, copy to try things);
- :mod:`~migctl.advise.defrag`: a bounded defragmentation plan (``advise defrag``), replayed as proof;
- :mod:`~migctl.advise.config_search`: a device-config and MIG/hami-core split search scored by trace
  replay (``advise config``).
"""
