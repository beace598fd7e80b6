"""deploy/Dockerfile and deploy/constraints.txt: a reproducible image (issue 14).

No container runtime here: the Dockerfile is checked as text (base by digest in one place, no pip
in the final stage, dependencies from the lock), the lock against pyproject's ranges.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pip._vendor.packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = (REPO / "deploy" / "Dockerfile").read_text()


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "deploy" / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[_name(name)] = version
    return pins


def _stages() -> list[list[str]]:
    stages: list[list[str]] = []
    for line in DOCKERFILE.splitlines():
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_base_image_is_pinned_by_digest_in_one_place():
    (base,) = re.findall(r"^ARG BASE=(\S+)$", DOCKERFILE, re.M)
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", base)
    froms = re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)
    assert froms == ["${BASE}", "${BASE}"]


def test_final_stage_runs_no_pip_and_removes_the_bases():
    build, final = _stages()
    final_text = "\n".join(final)
    assert not re.search(r"pip3?(\.11)? install|-m pip", final_text)
    assert "/usr/local/bin/pip" in final_text and "COPY --from=build /opt/migctl /opt/migctl" in final_text
    build_text = "\n".join(build)
    assert "--constraint constraints.txt" in build_text and "pip uninstall --yes pip" in build_text


def test_lock_pins_every_runtime_dependency_within_pyproject_ranges():
    pins = _lock()
    for spec in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]:
        requirement = Requirement(spec)
        name = _name(requirement.name)
        assert name in pins, f"{name} is not in deploy/constraints.txt (python deploy/lock.py)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name], str(requirement.specifier))


def test_image_name_is_not_repeated_outside_image_env():
    assert "ghcr.io/example/migctl" not in DOCKERFILE
    assert (REPO / "deploy" / "helm" / "migctl" / "image.env").read_text().startswith("IMAGE=")
