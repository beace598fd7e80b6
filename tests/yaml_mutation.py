"""Random edits of YAML text, for the property tests that hold migctl's readers to the exact ones.

The edits are what breaks a reader that guesses: YAML indicators, quotes, comments, escapes, tabs and line
breaks dropped into a line, a line moved to another column, dropped or repeated elsewhere.
"""

from __future__ import annotations

import io
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from gen_cluster import generate  # noqa: E402

from migctl.cluster.snapshot import dump_snapshot  # noqa: E402

NOISE = ["'", '"', "#", ":", ": ", " ", "  ", "-", "- ", "&a ", "*a", "!", "|", "|-", ">", "{", "}", "[", "]",
         ",", "\\", "?", "%", "@", "`", "~", "\n", "\n  ", "\n-", "\t", "\ue000", "x", "true", "1"]


def mutate(rnd: random.Random, lines: list[str], edits: int, *, drop: bool = False, columns: int = 7) -> None:
    """Make ``edits`` random edits to ``lines`` in place: noise inserted into a line, a line re-indented
    (0 to ``columns - 1`` spaces), a line dropped (with ``drop``) or a line repeated elsewhere."""
    for _ in range(edits):
        k = rnd.randrange(len(lines))
        line = lines[k]
        op = rnd.randrange(4 if drop else 3)
        if op == 0:
            at = rnd.randrange(len(line) + 1)
            lines[k] = line[:at] + rnd.choice(NOISE) + line[at:]
        elif op == 1:
            lines[k] = " " * rnd.randrange(0, columns) + line.lstrip(" ")
        elif op == 3 and len(lines) > 1:
            del lines[k]
        else:
            lines.insert(rnd.randrange(len(lines) + 1), line)


def mutated_snapshot(rnd: random.Random, edits: int, directory: Path, pods: int) -> Path:
    """A small generated snapshot (v2.9 or v2.10, plain or kubectl-sized) as kubectl's YAML, with ``edits``
    random edits, written to ``directory/snap.yaml``."""
    objects = list(generate(2, 2, pods, generation=rnd.choice(["v2.9", "v2.10"]), realistic=rnd.random() < 0.5,
                            seed=rnd.randint(1, 9)))
    buf = io.StringIO()
    dump_snapshot(objects, buf)
    lines = buf.getvalue().split("\n")
    mutate(rnd, lines, edits)
    path = directory / "snap.yaml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
