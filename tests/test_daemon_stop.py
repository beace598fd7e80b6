"""A daemon told to stop (SIGTERM) stops waiting for the apply lock and starts no new apply (issue 12)."""

from __future__ import annotations

import threading

import pytest
from daemon_support import FakeEngine, create_node, wait_for

from migctl import node_protocol as protocol
from migctl.apply.journal import LockWaitStopped, node_lock
from migctl.daemon.engine import NvmlEngine
from migctl.daemon.kube import NodeApi
from migctl.daemon.loop import Daemon, DaemonOptions
from migctl.nvml.fake import FakeNvml, FakeState

NODE = "gpu-node-1"
FAST = dict(resync_interval=0.5, backoff_initial=0.05, backoff_max=0.2, retry_base=0.3, retry_max=1.0, shutdown_grace=3)
A100 = {"name": "NVIDIA A100-SXM4-40GB", "mig_current": True, "mig_pending": True, "gpu_instances": []}


def test_node_lock_wait_ends_when_stop_is_set(tmp_path):
    """Set while waiting: LockWaitStopped, not the 600 s timeout (a RefusedError of another kind)."""
    stop = threading.Event()
    with node_lock(tmp_path / "state"):
        timer = threading.Timer(0.2, stop.set)
        timer.start()
        with pytest.raises(LockWaitStopped, match="held by pid"), node_lock(tmp_path / "state", timeout=600, stop=stop):
            pytest.fail("the lock is held")
        timer.join()


def test_a_free_lock_is_still_taken_after_stop(tmp_path):
    """The apply already decided finishes: only a wait for a busy lock is cut short."""
    stop = threading.Event()
    stop.set()
    with node_lock(tmp_path / "state", timeout=600, stop=stop):
        pass


def test_sigterm_while_waiting_for_the_lock_ends_the_daemon_without_applying(kube, tmp_path):
    fake = FakeNvml(FakeState.from_dict({"gpus": [dict(A100)]}))
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "1g.5gb:7"})
    state = tmp_path / "state"
    engine = NvmlEngine(state_dir=str(state), lock_timeout=600.0, fake=fake)
    daemon = Daemon(NodeApi(kube.api_client(), NODE, request_timeout=2), engine, DaemonOptions(**FAST))
    stop = threading.Event()
    with node_lock(state):  # another apply (an operator) holds the node lock
        thread = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
        thread.start()
        wait_for(lambda: kube.annotations(NODE).get(protocol.STATE) == "applying")
        stop.set()  # what the CLI's SIGTERM handler does
        thread.join(20)
        assert not thread.is_alive(), "the daemon waited out the lock timeout"
    assert fake.state.gpus[0].gpu_instances == []  # nothing changed
    assert kube.annotations(NODE).get(protocol.STATE) not in ("refused", "failed")  # left for the next start


def test_no_new_apply_starts_after_stop(kube):
    engine = FakeEngine({0: ""})
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "1g.5gb:7"})
    daemon = Daemon(NodeApi(kube.api_client(), NODE, request_timeout=2), engine, DaemonOptions(**FAST))
    stop = threading.Event()
    stop.set()
    daemon._stop = stop  # as run() sets it; the step below is the one a SIGTERM interrupts
    assert daemon.reconcile_once() is None
    assert engine.calls == []
    daemon._stop = None
    assert daemon.reconcile_once() is not None and engine.calls == [{0: protocol.read_geometry("1g.5gb:7")}]
