"""How fast `migctl validate config` lints, and what hostile inputs cost (time and peak memory).

Runs the core (`migctl.config.load.load_bytes`) in-process on:

- the seed example and a ConfigMap example (the everyday case),
- a large synthetic device-config (many entries and geometries: schema + solver on every geometry),
- hostile inputs: a 9.9 MB file, an alias-expansion bomb, 100,000 nested brackets, 1 MB of random bytes.

Goals: an everyday config lints in under 50 ms once the catalogue is loaded; every hostile input ends
with its one diagnostic in under 5 s and under 200 MB of peak Python memory.

    .venv/bin/python bench/validate_config.py [--repeat 5] [--strict]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from migctl.config.load import load_bytes  # noqa: E402
from migctl.hardware.catalogue import load_catalogue  # noqa: E402


def synthetic_config(entries: int) -> bytes:
    models = ["A100-SXM4-40GB", "A100-SXM4-80GB", "NVIDIA H100 80GB HBM3", "NVIDIA H200", "A30", "B200"]
    lines = ["nvidia:", "  resourceCountName: nvidia.com/gpu", "  deviceSplitCount: 10", "  deviceMemoryScaling: 1",
             "  deviceCoreScaling: 1", "  libCudaLogLevel: 1", "  knownMigGeometries:"]
    a100 = [["1g.5gb:7"], ["1g.5gb:1", "2g.10gb:3"], ["3g.20gb:2"], ["4g.20gb:1", "3g.20gb:1"], ["7g.40gb:1"]]
    for i in range(entries):
        lines.append(f'  - models: ["{models[i % len(models)]}-{i}", "A100-SXM4-40GB"]')
        lines.append("    allowedGeometries:")
        for geometry in a100:
            first = True
            for item in geometry:
                name, count = item.split(":")
                lead = "      - - " if first else "        - "
                lines.append(f"{lead}name: {name}")
                lines.append(f"          memory: {int(name.split('.')[1][:-2]) * 1000}")
                lines.append(f"          core: {int(name[0]) * 14}")
                lines.append(f"          count: {count}")
                first = False
    return ("\n".join(lines) + "\n").encode()


def alias_bomb() -> bytes:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return ("\n".join(lines) + "\n").encode()


def cases() -> list[tuple[str, bytes, str]]:
    rng = random.Random(7)
    return [
        ("seed example (legacy)", (REPO / "examples" / "device-config.yaml").read_bytes(), "yaml"),
        ("ConfigMap example (v2.10)", (REPO / "examples" / "device-configmap.yaml").read_bytes(), "yaml"),
        ("synthetic: 60 entries x 5 geometries", synthetic_config(60), "yaml"),
        ("9.9 MB of list items", b"- 1\n" * (2_475_000), "yaml"),
        ("alias-expansion bomb (10^9 nodes)", alias_bomb(), "yaml"),
        ("100,000 nested brackets", b"[" * 100_000, "yaml"),
        ("1 MB random bytes", bytes(rng.getrandbits(8) for _ in range(1_000_000)), "yaml"),
        ("1 MB random printable text", "".join(rng.choice("ab:-[]{}&*\n ") for _ in range(1_000_000)).encode(), "yaml"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()

    started = time.perf_counter()
    load_catalogue()
    print(f"catalogue load (once per process): {(time.perf_counter() - started) * 1000:.1f} ms")
    load_bytes(b"nvidia: {resourceCountName: x}\n", name="warm.yaml")  # schema compile, imports

    missed = False
    print(f"{'input':<38} {'size':>10} {'median':>10} {'peak MiB':>9}  result")
    for label, data, _ in cases():
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            result = load_bytes(data, name="input.yaml")
            times.append(time.perf_counter() - t0)
        tracemalloc.start()
        load_bytes(data, name="input.yaml")
        peak = tracemalloc.get_traced_memory()[1] / (1024 * 1024)
        tracemalloc.stop()
        median = statistics.median(times)
        codes = sorted({d.code for d in result.diagnostics})
        summary = f"{result.errors} errors, {result.warnings} warnings" + (f" [{', '.join(codes[:3])}]" if codes else "")
        everyday = label.startswith(("seed", "ConfigMap"))
        goal = 0.05 if everyday else 5.0
        if median > goal or (not everyday and peak > 200):
            missed = True
            summary += "  <-- goal missed"
        print(f"{label:<38} {len(data):>10,} {median * 1000:>8.1f}ms {peak:>9.1f}  {summary}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
