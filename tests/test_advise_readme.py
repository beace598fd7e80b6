"""The README's `migctl advise` section: its commands run on the shipped examples and print what it shows."""

from __future__ import annotations

import re
import shlex

from conftest import REPO


def _blocks() -> list[tuple[str, list[str]]]:
    text = (REPO / "README.md").read_text()
    section = text.split("## migctl advise", 1)[1].split("\n## ", 1)[0]
    out = []
    for block in re.findall(r"```console\n(.*?)```", section, re.S):
        command, lines = None, []
        for line in block.splitlines():
            if line.startswith("$ "):
                if command is not None:
                    out.append((command, lines))
                command, lines = line[2:], []
            else:
                lines.append(line.rstrip())
        if command is not None:
            out.append((command, lines))
    return out


def test_readme_shows_both_subcommands():
    commands = [c for c, _ in _blocks()]
    assert any(c.startswith("migctl advise defrag") for c in commands)
    assert any(c.startswith("migctl advise config") for c in commands)


def test_readme_advise_commands_print_what_it_shows(cli, monkeypatch):
    monkeypatch.chdir(REPO)
    for command, shown in _blocks():
        argv = shlex.split(command)
        assert argv[0] == "migctl"
        result = cli(*argv[1:])
        assert result.exit_code == 0, (command, result.stderr)
        actual = [line.rstrip() for line in result.stdout.splitlines()]
        if shown and shown[-1] == "...":
            assert actual[: len(shown) - 1] == shown[:-1], command
        else:
            assert actual == shown, command
        assert "Traceback" not in result.stderr
