"""NVML writes of ``migctl node apply-geometry`` against NVIDIA's tear-down-and-recreate.

For each geometry change, the GPU starts with the "from" geometry (created by migctl on the
simulated NVML, under pynvml), then migctl applies the "to" geometry; the script counts the NVML
writes that took effect (GI/CI creates and destroys) as the simulator saw them. The reference is
what mig-parted's ``SetMigConfig`` does (``mig-parted.md §1.3``): nothing when the counts already
match, otherwise destroy every CI and GI and create the whole geometry again (one GI + one CI per
instance), even when most instances could stay.

    .venv/bin/python bench/apply_actions.py            # table
    .venv/bin/python bench/apply_actions.py --json     # machine-readable
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from migctl.apply.engine import apply_geometry, current_instances  # noqa: E402
from migctl.apply.plan import teardown_writes  # noqa: E402
from migctl.hardware.geometry import parse_geometry  # noqa: E402
from migctl.nvml.session import open_session  # noqa: E402
from migctl.nvml.fake import FakeNvml, FakeState  # noqa: E402

CHANGES = [
    # (GPU, from, to)
    ("NVIDIA A100-SXM4-40GB", "3g.20gb:2", "3g.20gb:2"),
    ("NVIDIA A100-SXM4-40GB", "3g.20gb:1,2g.10gb:1,1g.5gb:2", "3g.20gb:1,2g.10gb:2"),
    ("NVIDIA A100-SXM4-40GB", "3g.20gb:1,2g.10gb:1,1g.5gb:2", "3g.20gb:1,1g.5gb:4"),
    ("NVIDIA A100-SXM4-40GB", "2g.10gb:3,1g.5gb:1", "2g.10gb:2,1g.5gb:3"),
    ("NVIDIA A100-SXM4-40GB", "1g.5gb:7", "2g.10gb:1,1g.5gb:5"),
    ("NVIDIA A100-SXM4-40GB", "4g.20gb:1,2g.10gb:1,1g.5gb:1", "4g.20gb:1,3g.20gb:1"),
    ("NVIDIA A100-SXM4-40GB", "7g.40gb:1", "3g.20gb:2"),
    ("NVIDIA H100 80GB HBM3", "3g.40gb:1,2g.20gb:1,1g.10gb:2", "3g.40gb:1,1g.20gb:2"),
    ("NVIDIA H200", "1g.18gb:7", "1g.18gb:5,2g.35gb:1"),
    ("NVIDIA H200", "3g.71gb:2", "3g.71gb:1,1g.18gb:3"),
    ("NVIDIA A30", "2g.12gb:1,1g.6gb:2", "2g.12gb:2"),
    ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "2g.48gb:1,1g.24gb:2", "2g.48gb:1,1g.24gb:1"),
]


def measure(gpu: str, start: str, target: str, workdir: Path) -> dict[str, object]:
    fake = FakeNvml(FakeState.from_spec(f"{gpu}:1"))
    with open_session(fake) as session:
        first = apply_geometry(session, start, gpu=0, state_dir_path=workdir)
        assert first.gpus[0].status in ("applied", "unchanged"), first.to_dict()
        current = current_instances(session.gpu(0))
        fake.writes = 0
        t0 = time.perf_counter()
        report = apply_geometry(session, target, gpu=0, state_dir_path=workdir)
        elapsed = time.perf_counter() - t0
    result = report.gpus[0]
    same = {c.profile for c in current} and sorted(c.profile for c in current) == sorted(
        p for p, n in parse_geometry(target).items() for _ in range(n)
    )
    reference = 0 if same else teardown_writes(current, sum(parse_geometry(target).values()))
    return {
        "gpu": gpu,
        "from": start,
        "to": target,
        "status": result.status,
        "kept": len(current) - sum(1 for a in result.actions if a.op == "destroy"),
        "migctl_writes": fake.writes,
        "teardown_writes": reference,
        "seconds": round(elapsed, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(gpu, start, target, Path(tmp)) for gpu, start, target in CHANGES]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    header = f"{'GPU':<28} {'from':<30} {'to':<26} {'kept':>4} {'migctl':>6} {'teardown':>8}"
    print(header)
    print("-" * len(header))
    for r in rows:
        name = str(r["gpu"]).removeprefix("NVIDIA ")[:28]
        print(f"{name:<28} {r['from']:<30} {r['to']:<26} {r['kept']:>4} {r['migctl_writes']:>6} {r['teardown_writes']:>8}")
    total_m = sum(int(r["migctl_writes"]) for r in rows)
    total_t = sum(int(r["teardown_writes"]) for r in rows)
    print("-" * len(header))
    kept = sum(int(r["kept"]) for r in rows)
    print(f"{'total':<86} {kept:>4} {total_m:>6} {total_t:>8}   ({total_m / total_t:.0%} of tear-down-and-recreate)")


if __name__ == "__main__":
    main()
