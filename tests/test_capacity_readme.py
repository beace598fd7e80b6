"""The README's capacity section: its commands print what it shows, and its sentences hold."""

from __future__ import annotations

import json
import re
import shlex

from conftest import REPO


def _section() -> str:
    text = (REPO / "README.md").read_text()
    return text.split("## migctl capacity", 1)[1].split("\n## ", 1)[0]


def _console_blocks() -> list[tuple[str, list[str]]]:
    out = []
    for block in re.findall(r"```console\n(.*?)```", _section(), re.S):
        first, *rest = block.rstrip("\n").split("\n")
        assert first.startswith("$ migctl ")
        out.append((first[2:], [line for line in rest if line.strip() and line != "..."]))
    return out


def test_the_shown_output_is_what_the_commands_print(cli, monkeypatch):
    monkeypatch.chdir(REPO)
    blocks = _console_blocks()
    assert len(blocks) == 2
    for command, shown in blocks:
        result = cli(*shlex.split(command)[1:])
        assert result.exit_code == 0, result.stderr
        printed = [line.rstrip() for line in result.stdout.splitlines()]
        missing = [line for line in shown if line.rstrip() not in printed]
        assert not missing, (command, missing)


def test_the_answers_the_section_gives(cli, monkeypatch):
    monkeypatch.chdir(REPO)
    mig_pod = json.loads(cli("capacity", "--cluster", "examples/cluster.yaml", "--shape",
                             "gpu=2,gpumem=8000,mode=mig", "-o", "json").stdout)["shapes"][0]
    assert (mig_pod["fits_now"], mig_pod["fits_empty"]) == (0, 2)
    # the README's MIG pod is the second pod of examples/pods.yaml
    workload = json.loads(cli("capacity", "--cluster", "examples/cluster.yaml", "--workload", "examples/pods.yaml",
                              "-o", "json").stdout)["shapes"]
    assert workload[1]["shape"] == "gpu=2,gpumem=8000,mode=mig"
    assert (workload[1]["fits_now"], workload[1]["fits_empty"]) == (0, 2)
    data = json.loads(cli("capacity", "--cluster", "examples/cluster.yaml", "--node", "gpu-node-b", "-o", "json").stdout)
    node = data["node"]
    assert (node["free_mib"], node["stranded_mib"]) == (56320, 37120)
    assert node["causes"] == {"locked_geometry": 6400, "small_slots": 30720}
    assert [g["uncarved_mib"] for g in node["gpus"]] == [5120, 5120]
    empty = {s["shape"]: s["fits_empty"] for s in data["shapes"]}
    assert (empty["gpu=1,gpumem=40960,mode=mig"], empty["gpu=1,gpumem=20480,mode=mig"],
            empty["gpu=1,gpumem=5120,mode=mig"]) == (2, 4, 14)
    section = _section()
    assert "37,120 of 56,320 MiB" in section and "30,720 MiB" in section and "6,400 MiB" in section
