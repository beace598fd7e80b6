"""Print deploy/constraints.txt: migctl's runtime dependency closure, pinned to what is installed.

    python deploy/lock.py > deploy/constraints.txt      # in an environment with `pip install .`

Only the runtime dependencies (pyproject's [project] dependencies and theirs, no extras) are
walked, with environment markers evaluated for this interpreter (the image's: CPython 3.11, Linux).
"""

from __future__ import annotations

import importlib.metadata as md
import re
import sys

try:
    from packaging.requirements import Requirement
except ImportError:  # pragma: no cover - pip vendors packaging
    from pip._vendor.packaging.requirements import Requirement

HEADER = """\
# The image's and the krew archives' dependency lock: every package `pip install .` brings in, pinned
# (deploy/Dockerfile installs with --constraint this file; tests/test_deploy_image.py checks it
# covers pyproject's dependencies and satisfies their ranges). Regenerate after changing them:
#   python deploy/lock.py > deploy/constraints.txt
"""


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(root: str = "migctl") -> dict[str, str]:
    """``{normalised name: installed version}`` of everything ``root`` needs at run time."""
    pinned: dict[str, str] = {}
    todo = [Requirement(r) for r in md.requires(root) or []]
    while todo:
        requirement = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = _name(requirement.name)
        if name in pinned:
            continue
        dist = md.distribution(requirement.name)
        pinned[name] = dist.version
        todo += [Requirement(r) for r in dist.requires or []]
    return pinned


def main() -> int:
    sys.stdout.write(HEADER + "".join(f"{n}=={v}\n" for n, v in sorted(closure().items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
