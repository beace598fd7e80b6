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


# --- fish and zsh, in the real shells (issue 14: fish listed files at the top level) ------------------


def _shell_or_skip(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {name}); its script is only checked for freshness")
    return path


def _fish_complete(script: Path, line: str) -> list[str]:
    """What fish itself offers for ``line`` (``complete -C``), values only."""
    fish = _shell_or_skip("fish")
    program = f"source '{script}'; complete -C '{line}'"
    proc = subprocess.run([fish, "--no-config", "-c", program], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return [row.split("\t", 1)[0] for row in proc.stdout.splitlines() if row]


def _zsh_complete(script: Path, words: list[str]) -> list[str]:
    """Run the zsh completion function in real zsh for ``words`` (last one being typed).

    The completion system's builtins that the function calls (compadd, _describe, _files) print
    what they were given instead of drawing a menu; everything else is the script as zsh runs it.
    """
    zsh = _shell_or_skip("zsh")
    words_literal = " ".join(f"'{w}'" for w in words)
    program = (
        "compdef() { :; }\n"
        "compadd() { [[ $1 == -- ]] && shift; print -l -- \"$@\"; }\n"
        "_describe() { local -a items; items=(\"${(@P)${@[-1]}}\"); print -l -- \"${(@)items%%:*}\"; }\n"
        "_files() { print -- '<files>'; }\n"
        f"source '{script}'\n"
        f"words=({words_literal})\n"
        f"CURRENT={len(words)}\n"
        "_migctl\n"
    )
    proc = subprocess.run([zsh, "-f", "-c", program], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    current = words[-1]
    return [w for w in proc.stdout.splitlines() if w and (w == "<files>" or w.startswith(current))]


@pytest.fixture
def scripts(tmp_path):
    paths = {}
    for shell, name in FILES.items():
        paths[shell] = tmp_path / name
        paths[shell].write_text(render_all()[name])
    return paths


def test_fish_completes_top_level_commands_not_files(scripts):
    offered = _fish_complete(scripts["fish"], "migctl ")
    from migctl.cli.main import COMMAND_INDEX

    assert offered == sorted(COMMAND_INDEX)
    assert {"status", "simulate", "hardware", "validate", "cluster", "node"} <= set(offered)
    assert "--debug" in _fish_complete(scripts["fish"], "migctl --")


def test_fish_completes_model_keys_and_output_choices(scripts):
    models = _fish_complete(scripts["fish"], "migctl hardware check ")
    assert {"a100-40gb", "a30-24gb", "h100-80gb"} <= set(models)
    assert _fish_complete(scripts["fish"], "migctl hardware check a100-") == ["a100-40gb", "a100-80gb"]
    assert _fish_complete(scripts["fish"], "migctl hardware check -o ") == ["json", "text", "yaml"]
    assert _fish_complete(scripts["fish"], "migctl hardware ") == sorted(["list", "show", "geometries", "check"])


def test_fish_script_parses(scripts):
    fish = _shell_or_skip("fish")
    proc = subprocess.run([fish, "--no-execute", str(scripts["fish"])], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def test_zsh_completes_commands_models_and_output_choices(scripts):
    top = _zsh_complete(scripts["zsh"], ["migctl", ""])
    from migctl.cli.main import COMMAND_INDEX

    assert top == list(COMMAND_INDEX)
    models = _zsh_complete(scripts["zsh"], ["migctl", "hardware", "check", ""])
    assert {"a100-40gb", "a30-24gb", "h100-80gb"} <= set(models)
    assert _zsh_complete(scripts["zsh"], ["migctl", "hardware", "check", "-o", ""]) == ["text", "json", "yaml"]
    assert _zsh_complete(scripts["zsh"], ["migctl", "hardware", "check", "--ex"]) == ["--existing"]
    # a path argument falls back to files
    assert _zsh_complete(scripts["zsh"], ["migctl", "validate", "config", ""]) == ["<files>"]


def test_zsh_script_parses(scripts):
    zsh = _shell_or_skip("zsh")
    proc = subprocess.run([zsh, "-n", str(scripts["zsh"])], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def test_bash_completes_top_level_and_output_choices_in_real_bash(bash_script):
    from migctl.cli.main import COMMAND_INDEX

    assert _bash_complete(bash_script, ["migctl", ""]) == list(COMMAND_INDEX)
    assert _bash_complete(bash_script, ["migctl", "status", "-o", ""]) == ["text", "wide", "json", "yaml"]
