"""migctl: the admin console for NVIDIA MIG on Kubernetes with HAMi dynamic MIG.

The package is library-first: the domain modules (``migctl.hardware``, ``migctl.config``,
``migctl.cluster``, ``migctl.simulate``, ``migctl.apply``) are plain Python with no I/O;
the Typer commands in ``migctl.cli`` are thin edges over them.
"""

__version__ = "0.1.0"
