"""``python -m migctl`` runs the command-line interface."""

from migctl.cli.main import main

if __name__ == "__main__":  # pragma: no cover - exercised through subprocess tests
    main()
