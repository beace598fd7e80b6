"""The command-line edge of migctl: Typer commands that parse, call the core, and render."""
