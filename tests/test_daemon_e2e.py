"""End to end: the real ``kubernetes`` client against kmock, the daemon in-process, simulated NVML.

The NVML under pynvml is ``migctl.nvml.fake`` (pynvml's ctypes marshalling runs for real); the
apply engine is the node engineer's ``migctl.apply.engine`` with its lock, journal and rollback.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_support import create_node, patch_annotations, wait_for

from migctl import node_protocol as protocol
from migctl.daemon.engine import NvmlEngine
from migctl.daemon.kube import NodeApi
from migctl.daemon.loop import Daemon, DaemonOptions
from migctl.nvml.fake import FakeNvml, FakeState, parse_faults

NODE = "gpu-node-1"
A100 = "NVIDIA A100-SXM4-40GB"
FAST = dict(resync_interval=0.5, backoff_initial=0.05, backoff_max=0.2, retry_base=0.3, retry_max=1.0, shutdown_grace=3)
REPO = Path(__file__).resolve().parent.parent


def fake_nvml(*gpus: dict, faults: str = "") -> FakeNvml:
    return FakeNvml(FakeState.from_dict({"gpus": list(gpus)}), faults=parse_faults(faults))


def a100(*instances: tuple[str, int, list[int]], mig: bool = True) -> dict:
    """An A100 with GPU instances ``(profile, start, processes)``."""
    return {
        "name": A100,
        "mig_current": mig,
        "mig_pending": mig,
        "gpu_instances": [
            {"profile": profile, "start": start, "compute_instances": [{"processes": processes}]}
            for profile, start, processes in instances
        ],
    }


def layout(fake: FakeNvml, index: int) -> list[tuple[str, int]]:
    """The simulated GPU's instances as (profile, start), sorted."""
    gpu = fake.state.gpus[index]
    if not gpu.mig_current:
        return [("disabled", -1)]
    return sorted((gi.profile.name, gi.start) for gi in gpu.gpu_instances)


def geometry(fake: FakeNvml, index: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, _start in layout(fake, index):
        counts[name] = counts.get(name, 0) + 1
    return counts


def states(kube) -> list[str]:
    """Every value migctl.io/geometry-state had on the Node, in order (kmock keeps the history)."""
    seen: list[str] = []
    for version in kube.handler.objects["v1/nodes", None, NODE].history:
        if version is None:
            continue
        value = ((version.raw.get("metadata") or {}).get("annotations") or {}).get(protocol.STATE)
        if value and (not seen or seen[-1] != value):
            seen.append(value)
    return seen


@contextlib.contextmanager
def daemon_running(kube, engine, **options) -> Iterator[Daemon]:
    daemon = Daemon(NodeApi(kube.api_client(), NODE, request_timeout=2), engine, DaemonOptions(**{**FAST, **options}))
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield daemon
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive()


class GatedEngine(NvmlEngine):
    """The real NVML engine, held at the start of ``apply`` until the test releases it."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.entered = threading.Event()
        self.release = threading.Event()

    def apply(self, targets):
        self.entered.set()
        assert self.release.wait(10)
        return super().apply(targets)


def annotation(kube, key: str) -> str | None:
    return kube.annotations(NODE).get(key)


def answered(kube, desired: str) -> str | None:
    report = protocol.answer_for(kube.annotations(NODE), desired)
    return report.state.value if report else None


def test_set_annotation_applies_and_reports_success(kube, tmp_path) -> None:
    fake = fake_nvml(a100(), a100(mig=False))
    create_node(kube.api_client(), NODE)
    desired = '{"0":"2g.10gb:3,1g.5gb:1","1":"1g.5gb:7"}'
    with daemon_running(kube, NvmlEngine(state_dir=str(tmp_path), fake=fake)) as daemon:
        patch_annotations(kube.api_client(), NODE, {protocol.DESIRED: desired})
        wait_for(lambda: answered(kube, desired) == "success")
    assert states(kube) == ["applying", "success"]
    assert geometry(fake, 0) == {"2g.10gb": 3, "1g.5gb": 1}
    assert geometry(fake, 1) == {"1g.5gb": 7} and fake.state.gpus[1].mig_current
    assert json.loads(annotation(kube, protocol.APPLIED)) == {"0": "2g.10gb:3,1g.5gb:1", "1": "1g.5gb:7"}
    assert daemon.metrics.applies == 1
    assert not list(tmp_path.glob("journal-*.json"))  # the engine's journal is gone after a clean run


def test_busy_instance_is_refused_naming_the_process(kube, tmp_path) -> None:
    fake = fake_nvml(a100(("1g.5gb", 6, [4242])))
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "7g.40gb:1"})
    before = layout(fake, 0)
    with daemon_running(kube, NvmlEngine(state_dir=str(tmp_path), fake=fake)):
        wait_for(lambda: answered(kube, "7g.40gb:1") == "refused")
    message = annotation(kube, protocol.MESSAGE)
    assert "4242" in message and "GPU 0" in message
    assert layout(fake, 0) == before
    assert fake.writes == 0  # refused before anything was touched
    assert states(kube) == ["refused"]  # planned first: it never said "applying"
    assert any(e["reason"] == "MigGeometryRefused" and e["type"] == "Warning" for e in kube.events())


def test_nvml_fault_fails_and_rolls_back_every_gpu(kube, tmp_path) -> None:
    # GPU 0 changes first (4 creates); the 6th GPU-instance create (the 2nd on GPU 1) fails: both go back.
    fake = fake_nvml(a100(("3g.20gb", 0, []), ("3g.20gb", 4, [])), a100(("7g.40gb", 0, [])),
                     faults="create_gpu_instance:6")
    create_node(kube.api_client(), NODE)
    before = [layout(fake, 0), layout(fake, 1)]
    desired = "2g.10gb:3,1g.5gb:1"
    with daemon_running(kube, NvmlEngine(state_dir=str(tmp_path), fake=fake), retry_base=60):
        patch_annotations(kube.api_client(), NODE, {protocol.DESIRED: desired})
        wait_for(lambda: answered(kube, desired) == "failed")
    message = annotation(kube, protocol.MESSAGE)
    assert "GPU 1" in message and "rolled back" in message and "GPUs 0 were put back" in message
    assert [geometry(fake, 0), geometry(fake, 1)] == [{"3g.20gb": 2}, {"7g.40gb": 1}]
    assert [layout(fake, 0), layout(fake, 1)] == before
    assert json.loads(annotation(kube, protocol.APPLIED)) == {"0": "3g.20gb:2", "1": "7g.40gb:1"}
    assert states(kube) == ["applying", "failed"]


def test_api_server_stopped_and_restarted_mid_apply(kube, tmp_path) -> None:
    fake = fake_nvml(a100())
    engine = GatedEngine(state_dir=str(tmp_path), fake=fake)
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "3g.20gb:2"})
    with daemon_running(kube, engine) as daemon:
        assert engine.entered.wait(5)
        wait_for(lambda: annotation(kube, protocol.STATE) == "applying")
        kube.stop_http()
        engine.release.set()
        wait_for(lambda: geometry(fake, 0) == {"3g.20gb": 2})
        wait_for(lambda: daemon.metrics.kube_errors >= 1)
        kube.start_http()
        wait_for(lambda: answered(kube, "3g.20gb:2") == "success")
        # and the watch is back: a new request while running is applied
        patch_annotations(kube.api_client(), NODE, {protocol.DESIRED: "7g.40gb:1"})
        wait_for(lambda: answered(kube, "7g.40gb:1") == "success")
    assert geometry(fake, 0) == {"7g.40gb": 1}


def test_sigterm_mid_apply_finishes_consistently(kube, tmp_path, monkeypatch) -> None:
    """The CLI's SIGTERM handler in the main thread: the apply in flight completes and is reported."""
    from migctl.cli.node_daemon import run_daemon

    state_file = tmp_path / "nvml.json"
    FakeState.from_dict({"gpus": [a100()]}).save(state_file)
    monkeypatch.setenv("MIGCTL_FAKE_NVML", str(state_file))
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "1g.5gb:7"})
    original = NvmlEngine.apply
    signalled = []

    def apply_with_sigterm(self, targets):
        signalled.append(True)
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while this apply runs
        return original(self, targets)

    monkeypatch.setattr(NvmlEngine, "apply", apply_with_sigterm)
    code = run_daemon(NODE, kubeconfig=kube.write_kubeconfig(tmp_path / "kubeconfig"), state_dir=tmp_path / "state",
                      metrics_port=0, resync_interval=0.5, log_level="warning")
    assert code == 0 and signalled == [True]
    assert answered(kube, "1g.5gb:7") == "success"
    saved = FakeState.load(state_file)
    assert sorted(gi.profile.name for gi in saved.gpus[0].gpu_instances) == ["1g.5gb"] * 7
    assert not list((tmp_path / "state").glob("journal-*.json"))
    assert signal.getsignal(signal.SIGTERM) is not None  # handlers restored


def test_set_geometry_wait_with_the_daemon_running(kube, tmp_path, cli) -> None:
    fake = fake_nvml(a100(("1g.5gb", 6, [4242])), a100())
    create_node(kube.api_client(), NODE)
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    with daemon_running(kube, NvmlEngine(state_dir=str(tmp_path), fake=fake), retry_base=60):
        ok = cli("node", "set-geometry", NODE, "1g.5gb:7", "--gpu", "1", "--wait", "--timeout", "8",
                 "--poll-interval", "0.05", "--kubeconfig", kubeconfig, "-o", "json")
        assert ok.exit_code == 0, ok.stderr
        data = json.loads(ok.stdout)
        assert data["desired"] == '{"1":"1g.5gb:7"}' and data["report"]["state"] == "success"
        assert data["report"]["applied"]["1"] == "1g.5gb:7"
        refused = cli("node", "set-geometry", NODE, "7g.40gb:1", "--gpu", "0", "--wait", "--timeout", "8",
                      "--poll-interval", "0.05", "--kubeconfig", kubeconfig)
        assert refused.exit_code == 4
        assert "refused" in refused.stdout and "4242" in refused.stdout
    assert annotation(kube, protocol.DESIRED) == '{"0":"7g.40gb:1","1":"1g.5gb:7"}'
    assert geometry(fake, 1) == {"1g.5gb": 7} and geometry(fake, 0) == {"1g.5gb": 1}


def test_set_geometry_errors(kube, tmp_path, cli) -> None:
    create_node(kube.api_client(), NODE)
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    missing = cli("node", "set-geometry", "no-such-node", "1g.5gb:7", "--kubeconfig", kubeconfig)
    assert missing.exit_code == 2 and "no-such-node" in missing.stderr and "Traceback" not in missing.stderr
    bad = cli("node", "set-geometry", NODE, "1g.5gb:seven", "--kubeconfig", kubeconfig)
    assert bad.exit_code == 2 and "GEOMETRY" in bad.stderr
    timeout = cli("node", "set-geometry", NODE, "1g.5gb:7", "--wait", "--timeout", "0.3", "--poll-interval", "0.05",
                  "--kubeconfig", kubeconfig)
    assert timeout.exit_code == 1 and "no answer" in timeout.stderr and "daemon" in timeout.stderr
    kube.stop_http()
    down = cli("node", "set-geometry", NODE, "1g.5gb:7", "--kubeconfig", kubeconfig)
    assert down.exit_code == 3 and "Traceback" not in down.stderr
    kube.start_http()


def _daemon_process(kubeconfig: Path, state: Path, nvml: Path, faults: str = "") -> subprocess.Popen:
    env = {**os.environ, "MIGCTL_FAKE_NVML": str(nvml), "MIGCTL_FAKE_NVML_FAIL": faults, "NODE_NAME": NODE}
    return subprocess.Popen(
        [sys.executable, "-m", "migctl", "node", "daemon", "--kubeconfig", str(kubeconfig), "--state-dir", str(state),
         "--metrics-port", "0", "--resync-interval", "0.5", "--retry-interval", "0.3"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_daemon_process_killed_mid_apply_recovers_from_its_journal(kube, tmp_path, cli) -> None:
    """A real ``migctl node daemon`` process dies mid-apply; the next one finds the journal and finishes.

    Then ``set-geometry --wait`` talks to that daemon process through the API server.
    """
    nvml = tmp_path / "nvml.json"
    FakeState.from_dict({"gpus": [a100(("7g.40gb", 0, []))]}).save(nvml)
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "3g.20gb:2"})
    first = _daemon_process(kubeconfig, tmp_path / "state", nvml, faults="create_gpu_instance:1:crash")
    assert first.wait(20) == 137  # died right after the first create took effect
    assert list((tmp_path / "state").glob("journal-*.json"))  # the journal survived the crash
    assert annotation(kube, protocol.STATE) == "applying"
    second = _daemon_process(kubeconfig, tmp_path / "state", nvml)
    try:
        wait_for(lambda: answered(kube, "3g.20gb:2") == "success", timeout=20)
        saved = FakeState.load(nvml)
        assert sorted((gi.profile.name, gi.start) for gi in saved.gpus[0].gpu_instances) == [("3g.20gb", 0), ("3g.20gb", 4)]
        assert not list((tmp_path / "state").glob("journal-*.json"))
        result = cli("node", "set-geometry", NODE, "2g.10gb:3,1g.5gb:1", "--wait", "--timeout", "15",
                     "--poll-interval", "0.05", "--kubeconfig", kubeconfig)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        assert "success" in result.stdout and "GPU 0: 2g.10gb:3,1g.5gb:1" in result.stdout
        second.send_signal(signal.SIGTERM)
        assert second.wait(10) == 0
    finally:
        if second.poll() is None:
            second.kill()
    saved = FakeState.load(nvml)
    assert sorted(gi.profile.name for gi in saved.gpus[0].gpu_instances) == ["1g.5gb"] + ["2g.10gb"] * 3


def test_a_journal_left_behind_is_resolved_even_when_the_geometry_looks_right(kube, tmp_path) -> None:
    """A crash after the last NVML change but before the journal was removed: the daemon finishes it."""
    from migctl.apply.journal import Journal

    fake = fake_nvml(a100(("3g.20gb", 0, []), ("3g.20gb", 4, [])))
    uuid = fake.state.gpus[0].uuid
    Journal(gpu_uuid=uuid, gpu_index=0, before=[{"profile": "7g.40gb", "start": 0, "size": 8}], before_mig_enabled=True,
            desired="3g.20gb:2", actions=[], done=3).save(tmp_path)
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "3g.20gb:2"})
    with daemon_running(kube, NvmlEngine(state_dir=str(tmp_path), fake=fake)):
        wait_for(lambda: answered(kube, "3g.20gb:2") == "success")
    assert not Journal.path_for(tmp_path, uuid).exists()
    assert geometry(fake, 0) == {"3g.20gb": 2} and fake.writes == 0


def test_a_mode_change_that_needs_a_reset_fails_with_what_to_do(kube, tmp_path) -> None:
    gpu = a100(mig=False)
    gpu["clients_holding"] = True  # e.g. nvidia-persistenced: the enable stays pending (Ampere)
    gpu["resetless"] = False
    fake = fake_nvml(gpu)
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "1g.5gb:7"})
    with daemon_running(kube, NvmlEngine(state_dir=str(tmp_path), fake=fake)):
        wait_for(lambda: answered(kube, "1g.5gb:7") == "failed")
    message = annotation(kube, protocol.MESSAGE)
    assert "reset-required" in message and "nvidia-smi -r -i 0" in message
    assert json.loads(annotation(kube, protocol.APPLIED)) == {"0": "disabled"}


def test_geometry_lost_by_a_reboot_is_applied_again(kube, tmp_path) -> None:
    """GI/CI never survive a reboot or driver reload (mig-parted.md §1.4): the resync puts them back."""
    from migctl.nvml.fake import reboot

    fake = fake_nvml(a100())
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "3g.20gb:2"})
    with daemon_running(kube, NvmlEngine(state_dir=str(tmp_path), fake=fake)) as daemon:
        wait_for(lambda: answered(kube, "3g.20gb:2") == "success")
        reboot(fake.state)
        assert geometry(fake, 0) == {}
        wait_for(lambda: geometry(fake, 0) == {"3g.20gb": 2})
        wait_for(lambda: daemon.metrics.applies == 2)
    assert answered(kube, "3g.20gb:2") == "success"


def test_one_nvml_session_per_reconcile(kube, tmp_path, monkeypatch) -> None:
    """Inventory, plan and apply share one NVML session: init/shutdown can take a minute without
    persistence mode (mig-parted.md §2). The session is closed again when the reconcile ends."""
    import migctl.nvml.session as adapter

    opened: list[int] = []
    real_open = adapter.open_session

    def counting_open(*args, **kwargs):
        opened.append(1)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(adapter, "open_session", counting_open)
    fake = fake_nvml(a100())
    create_node(kube.api_client(), NODE)
    patch_annotations(kube.api_client(), NODE, {protocol.DESIRED: "2g.10gb:3,1g.5gb:1"})
    engine = NvmlEngine(state_dir=str(tmp_path), fake=fake)
    daemon = Daemon(NodeApi(kube.api_client(), NODE, request_timeout=2), engine, DaemonOptions(**FAST))
    report = daemon.reconcile_once()
    assert report is not None and report.state.value == "success"
    assert geometry(fake, 0) == {"2g.10gb": 3, "1g.5gb": 1}
    assert len(opened) == 1
    assert engine._shared is None  # released between reconciles (GPU resets are not blocked)
    daemon.reconcile_once()  # in sync now: one more session, to read the GPUs
    assert len(opened) == 2
    assert len(engine.inventory()) == 1 and len(opened) == 3  # outside a reconcile: a session per call


def test_one_reconcile_parses_the_desired_geometry_once_and_solves_once(kube, tmp_path, monkeypatch) -> None:
    """The walk of one geometry from the annotation to NVML: parsed once at the edge, one plan
    (the daemon's plan and its apply share it), one solve from empty plus one placement."""
    import migctl.apply.plan as plan_module
    from migctl.hardware.geometry import Geometry

    parses: list[str] = []
    solves: list[object] = []
    real_parse, real_solve = Geometry.parse.__func__, plan_module.solve

    def counting_parse(cls, text):
        parses.append(text)
        return real_parse(cls, text)

    def counting_solve(*args, **kwargs):
        solves.append(args[1])
        return real_solve(*args, **kwargs)

    monkeypatch.setattr(Geometry, "parse", classmethod(counting_parse))
    monkeypatch.setattr(plan_module, "solve", counting_solve)
    fake = fake_nvml(a100())
    create_node(kube.api_client(), NODE)
    patch_annotations(kube.api_client(), NODE, {protocol.DESIRED: "1g.5gb:1,2g.10gb:3"})
    engine = NvmlEngine(state_dir=str(tmp_path), fake=fake)
    daemon = Daemon(NodeApi(kube.api_client(), NODE, request_timeout=2), engine, DaemonOptions(**FAST))
    report = daemon.reconcile_once()
    assert report is not None and report.state.value == "success"
    assert geometry(fake, 0) == {"2g.10gb": 3, "1g.5gb": 1}
    assert parses == ["1g.5gb:1,2g.10gb:3"]
    assert len(solves) == 2  # plan_geometry: feasible from empty, then placed around what is kept


def test_set_geometry_library_writes_the_request_and_raises_user_errors(kube, tmp_path) -> None:
    """migctl.daemon.request.set_geometry: what `node set-geometry` does, as a function (no printing, no exit)."""
    from migctl.daemon.request import set_geometry
    from migctl.errors import ExitCode, InputError
    from migctl.hardware.geometry import MIG_OFF, Geometry

    create_node(kube.api_client(), NODE)
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    result = set_geometry(NODE, Geometry.parse("1g.5gb:7"), kubeconfig=kubeconfig)
    assert (result.desired, result.previous, result.report, result.exit_code) == ("1g.5gb:7", None, None, ExitCode.OK)
    assert annotation(kube, protocol.DESIRED) == "1g.5gb:7"
    again = set_geometry(NODE, MIG_OFF, gpus=["1"], kubeconfig=kubeconfig)
    assert again.previous == "1g.5gb:7" and again.to_dict()["desired"] == '{"*":"1g.5gb:7","1":"disabled"}'
    with pytest.raises(InputError, match="GEOMETRY"):
        set_geometry(NODE, "1g.5gb:seven", kubeconfig=kubeconfig)
