"""migctl: the admin console for NVIDIA MIG on Kubernetes with HAMi dynamic MIG.

The package is library-first: the domain modules (``migctl.hardware``, ``migctl.config``,
``migctl.cluster``, ``migctl.simulate``, ``migctl.apply``) are plain Python with no I/O;
the Typer commands in ``migctl.cli`` are thin edges over them.
"""

__version__ = "0.1.0"
# Where the documentation lives (SARIF rule links, the krew manifest). Forks: change it here only.
__url__ = "https://github.com/example/migctl"
README_URL = f"{__url__}/blob/main/README.md"
