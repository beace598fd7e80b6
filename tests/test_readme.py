"""The README's Quickstart: exactly two commands, and the first one's migctl part does what it says."""

from __future__ import annotations

import re
import shlex

from conftest import REPO


def _quickstart_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_quickstart_has_exactly_two_commands():
    commands = _quickstart_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    assert commands[1] == "pip install -e '.[test,chart,plot]' && pytest"
    # CI runs exactly the README's test command (quietly)
    ci = (REPO / ".ci" / "run").read_text()
    assert commands[1].replace("pip install -e", "pip install -q -e") in ci


def test_quickstart_main_job_runs_on_the_shipped_examples(cli, monkeypatch):
    monkeypatch.chdir(REPO)
    first = _quickstart_commands()[0]
    migctl_part = first.split("&&")[-1].strip()
    argv = shlex.split(migctl_part)
    assert argv[0] == "migctl"
    result = cli(*argv[1:])
    # as the README says: pod 1 lands on the hami-core node, pod 2 (pinned to MIG) stays Pending
    assert result.exit_code == 1, result.stderr
    assert "gpu-node-a" in result.stdout
    assert "0/3 nodes are available" in result.stdout
    assert "Traceback" not in result.stderr


def _python_api_examples() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_python_api_examples_run(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    examples = _python_api_examples()
    assert len(examples) >= 4
    for code in examples:
        exec(compile(code, "README.md (Python API)", "exec"), {"__name__": "readme_example"})  # noqa: S102
    out = capsys.readouterr().out
    assert "0/3 nodes are available" in out and "gpu-node-b" in out
