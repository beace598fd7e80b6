"""Resident memory of ``migctl node daemon`` (for the DaemonSet's memory request and limit).

Runs the real daemon process against a kmock API server and the simulated NVML
(``MIGCTL_FAKE_NVML``, 8 A100 GPUs), asks it for a series of geometries, and samples the process's
RSS (``VmRSS``, and the peak ``VmHWM``) from /proc while it works, plus what its own ``/metrics``
reports as ``process_resident_memory_bytes``. Prints the numbers; run it from the repository root:

    .venv/bin/python bench/daemon_rss.py [--rounds 6]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from test_daemon_support import KubeServer, create_node, patch_annotations, wait_for  # noqa: E402

from migctl import node_protocol as protocol  # noqa: E402
from migctl.nvml.fake import FakeState  # noqa: E402

NODE = "gpu-node-1"
GEOMETRIES = ["1g.5gb:7", "3g.20gb:2", "2g.10gb:3,1g.5gb:1", "7g.40gb:1", "disabled", "4g.20gb:1,3g.20gb:1"]


def status_kib(pid: int, key: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1))  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="geometry changes to ask for")
    parser.add_argument("--gpus", type=int, default=8)
    args = parser.parse_args()
    kube = KubeServer()
    work = Path(tempfile.mkdtemp(prefix="migctl-rss-"))
    gpu = {"name": "NVIDIA A100-SXM4-40GB", "mig_current": True, "mig_pending": True, "gpu_instances": []}
    FakeState.from_dict({"gpus": [dict(gpu) for _ in range(args.gpus)]}).save(work / "nvml.json")
    kubeconfig = kube.write_kubeconfig(work / "kubeconfig")
    create_node(kube.api_client(), NODE)
    env = {**os.environ, "MIGCTL_FAKE_NVML": str(work / "nvml.json"), "NODE_NAME": NODE}
    proc = subprocess.Popen(
        [sys.executable, "-m", "migctl", "node", "daemon", "--kubeconfig", str(kubeconfig), "--state-dir",
         str(work / "state"), "--metrics-port", "19477", "--resync-interval", "1"],
        env=env, cwd=REPO, stderr=subprocess.PIPE, text=True,
    )
    samples: list[int] = []
    try:
        for geometry in GEOMETRIES[: args.rounds]:
            patch_annotations(kube.api_client(), NODE, {protocol.DESIRED: geometry})
            wait_for(lambda g=geometry: kube.annotations(NODE).get(protocol.OBSERVED) == g
                     and kube.annotations(NODE).get(protocol.STATE) in ("success", "failed", "refused"), timeout=60)
            samples.append(status_kib(proc.pid, "VmRSS"))
        time.sleep(2.5)  # two resyncs while idle
        samples.append(status_kib(proc.pid, "VmRSS"))
        with urllib.request.urlopen("http://127.0.0.1:19477/metrics", timeout=5) as response:
            text = response.read().decode()
        reported = float(re.search(r"^process_resident_memory_bytes (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]
        peak = status_kib(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait(15)
        kube.close()
    mib = 1024
    print(f"daemon RSS over {len(samples)} samples ({args.gpus} simulated GPUs, {args.rounds} geometry changes):")
    print(f"  min {min(samples) / mib:.1f} MiB, max {max(samples) / mib:.1f} MiB, peak (VmHWM) {peak / mib:.1f} MiB")
    print(f"  /metrics process_resident_memory_bytes: {reported / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
