"""Every bad input of issue 12 through the real CLI, one subprocess each: wall and CPU seconds and the
child's peak RSS. Goal: each answered in under 2 s and 200 MB, with its documented exit code.

    .venv/bin/python bench/worst_case.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def _pod(limits: str) -> str:
    return ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n"
            f"    resources:\n      limits: {{{limits}}}\n")


def cases(tmp: Path) -> list[tuple[str, list[str], dict[str, str], int]]:
    """(name, argv after 'migctl', extra environment, expected exit code)."""
    unknown = tmp / "unknown-keys.yaml"
    unknown.write_text("nvidia:\n" + "".join(f"  unknownKey{i}: 1\n" for i in range(10_000)))
    empty = tmp / "empty-docs.yaml"
    empty.write_text("---\n{}\n" * 8_000)
    replicas = tmp / "replicas.yaml"
    replicas.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 1000000000\n"
                        "  template:\n    spec:\n      containers:\n      - name: c\n"
                        "        resources: {limits: {nvidia.com/gpu: 1}}\n")
    fifo = tmp / "config.fifo"
    os.mkfifo(fifo)
    digits = tmp / "digits.yaml"
    digits.write_text(_pod("nvidia.com/gpu: " + "9" * 5000))
    bad_gpu = tmp / "bad-gpu.yaml"
    bad_gpu.write_text(_pod("nvidia.com/gpu: abc"))
    snapshot = tmp / "digits.json"
    snapshot.write_text('{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Node",'
                        '"metadata":{"name":"n"},"spec":{"x":-' + "9" * 5000 + "}}]}")
    cluster = str(EXAMPLES / "cluster.yaml")
    return [
        ("validate: 10,000 unknown keys (text)", ["validate", "config", str(unknown)], {}, 1),
        ("validate: 8,000 empty documents (text)", ["validate", "config", str(empty)], {}, 1),
        ("validate: a FIFO", ["validate", "config", str(fifo)], {}, 2),
        ("simulate: replicas 1e9", ["simulate", str(replicas), "--cluster", cluster], {}, 2),
        ("simulate: --repeat 10^20", ["simulate", str(EXAMPLES / "pods.yaml"), "--cluster", cluster,
                                      "--repeat", "99999999999999999999"], {}, 2),
        ("simulate: gpu 5,000 digits", ["simulate", str(digits), "--cluster", cluster], {}, 2),
        ("simulate: gpu 'abc'", ["simulate", str(bad_gpu), "--cluster", cluster], {}, 2),
        ("status: JSON snapshot, 5,000 digits", ["status", "--cluster", str(snapshot)], {}, 2),
        ("apply-geometry --lock-timeout nan", ["node", "apply-geometry", "1g.5gb:7", "--lock-timeout", "nan"],
         {"MIGCTL_FAKE_NVML": str(tmp / "nvml.json"), "MIGCTL_STATE_DIR": str(tmp / "state")}, 2),
        ("fake NVML: 99,999,999 GPUs", ["node", "status"],
         {"MIGCTL_FAKE_NVML": str(tmp / "nvml-big.json"),
          "MIGCTL_FAKE_NVML_GPUS": "NVIDIA A100-SXM4-40GB:99999999"}, 2),
        ("capacity: --shape gpu=5,000 digits", ["capacity", "--cluster", cluster, "--shape", "gpu=" + "9" * 5000],
         {}, 2),
    ]


def run(argv: list[str], env: dict[str, str]) -> tuple[int, float, float, float]:
    """(exit code, wall s, CPU s, peak RSS MiB) of one migctl process."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "migctl", *argv], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'case':40} {'exit':>4} {'want':>4} {'wall s':>7} {'CPU s':>6} {'peak MiB':>8}  goal")
        bad = 0
        for name, argv, env, want in cases(Path(tmp)):
            code, wall, cpu, rss = run(argv, env)
            ok = code == want and wall < 2 and rss < 200
            bad += not ok
            print(f"{name:40} {code:>4} {want:>4} {wall:>7.2f} {cpu:>6.2f} {rss:>8.0f}  {'met' if ok else 'NOT met'}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
