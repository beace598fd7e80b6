"""Shell completion scripts: up to date with the Typer app, and working in bash."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import pytest
import typer
from conftest import REPO

from migctl.cli.completion import FILES, command_tree, main, render_all, render_bash

COMPLETIONS = REPO / "completions"
REGENERATE = "python -m migctl.cli.completion completions/"


def test_completion_scripts_are_up_to_date_with_the_app():
    scripts = render_all()
    for name, text in scripts.items():
        path = COMPLETIONS / name
        assert path.is_file(), f"{path} is missing; run: {REGENERATE}"
        assert path.read_text() == text, f"{path} is out of date with the migctl commands; run: {REGENERATE}"


def test_every_command_is_in_every_script():
    tree = command_tree()
    scripts = render_all()
    for node in tree.walk():
        for sub in node.subcommands:
            for text in scripts.values():
                assert sub.path[-1] in text
        for option in node.options:
            for name in option.names:
                for text in scripts.values():
                    assert name.lstrip("-") in text


def test_check_mode_and_regeneration(tmp_path):
    assert main([str(tmp_path), "--check"]) == 1
    assert main([str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES.values())
    assert main([str(tmp_path), "--check"]) == 0
    (tmp_path / FILES["bash"]).write_text("stale\n")
    assert main([str(tmp_path), "--check"]) == 1


def test_module_runs_as_a_script(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "migctl.cli.completion", str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "_migctl").read_text().startswith("#compdef migctl")
    # The output does not depend on hash randomisation (click keeps help names in a set).
    for seed in ("1", "2"):
        check = subprocess.run(
            [sys.executable, "-m", "migctl.cli.completion", str(tmp_path), "--check"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert check.returncode == 0, check.stderr


def _bash_complete(script: Path, words: list[str]) -> list[str]:
    """Run the bash completion function as bash would for ``words`` (last one being typed)."""
    words_literal = " ".join(f"'{w}'" for w in words)
    program = (
        f"source '{script}'\n"
        f"COMP_WORDS=({words_literal})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        "_migctl\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


@pytest.fixture
def bash_script(tmp_path):
    if shutil.which("bash") is None:
        pytest.fail("bash is needed to test the bash completion script")
    path = tmp_path / "migctl.bash"
    path.write_text(render_all()[FILES["bash"]])
    return path


def test_bash_script_parses(bash_script):
    proc = subprocess.run(["bash", "-n", str(bash_script)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def test_bash_completes_commands_options_models_and_choices(bash_script):
    assert "hardware" in _bash_complete(bash_script, ["migctl", ""])
    assert _bash_complete(bash_script, ["migctl", "hardware", ""]) == ["list", "show", "geometries", "check"]
    assert _bash_complete(bash_script, ["migctl", "hardware", "show", "a100-"]) == ["a100-40gb", "a100-80gb"]
    assert _bash_complete(bash_script, ["migctl", "--debug", "hardware", "geometries", "rtx-pro-6"]) == ["rtx-pro-6000-blackwell"]
    assert _bash_complete(bash_script, ["migctl", "hardware", "check", "-o", ""]) == ["text", "json", "yaml"]
    assert _bash_complete(bash_script, ["migctl", "hardware", "check", "--ex"]) == ["--existing"]
    # After the MODEL argument comes GEOMETRY: no model keys there, and an option value is skipped.
    assert _bash_complete(bash_script, ["migctl", "hardware", "check", "a100-40gb", ""]) == []
    assert _bash_complete(bash_script, ["migctl", "hardware", "check", "-o", "json", "a"]) == ["a100-40gb", "a100-80gb", "a30-24gb"]


class Color(str, Enum):
    red = "red"
    blue = "blue"


def test_generator_handles_choices_paths_and_nested_groups():
    demo = typer.Typer()
    group = typer.Typer()
    demo.add_typer(group, name="paint")

    @group.command("wall")
    def wall(
        color: Annotated[Color, typer.Argument()],
        config: Annotated[Path, typer.Option("--config", "-c")] = Path("x"),
        dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
    ) -> None:
        """Paint a wall."""

    @group.command("hidden", hidden=True)
    def hidden() -> None:
        """Not shown."""

    tree = command_tree(demo)
    (paint,) = tree.subcommands
    (node,) = paint.subcommands
    assert node.path == ("paint", "wall") and node.help == "Paint a wall."
    assert node.arguments == [(("red", "blue"), False)]
    options = {o.names[-1]: o for o in node.options}
    assert options["--config"].takes_value and options["--config"].is_path
    assert not options["--dry-run"].takes_value
    script = render_bash(tree)
    assert "'paint wall|0') echo 'red blue'" in script
    assert "hidden" not in script
