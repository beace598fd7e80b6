"""Option choices shared by several commands (only the standard library: command modules import it at load)."""

from __future__ import annotations

from enum import Enum

#: ``--max-pods`` default: ``migctl.simulate.workloads.MAX_PODS`` (kept here so command modules load without
#: the simulator; tests/test_simulate_limits.py holds the two equal).
DEFAULT_MAX_PODS = 100_000


class HamiVersionChoice(str, Enum):
    """``--hami-version``: the HAMi generation to follow (``auto`` infers it)."""

    auto = "auto"
    v2_9 = "2.9"
    v2_10 = "2.10"


class Policy(str, Enum):
    """``--node-policy``: HAMi's scheduler default node policy."""

    binpack = "binpack"
    spread = "spread"


class GpuPolicy(str, Enum):
    """``--gpu-policy``: HAMi's scheduler default GPU policy (``mutex`` is HAMi 2.10)."""

    binpack = "binpack"
    spread = "spread"
    topology_aware = "topology-aware"
    mutex = "mutex"


class NodeScore(str, Enum):
    """``--node-score``: ``hami`` scores GPU usage only; ``combined`` adds CPU and memory."""

    hami = "hami"
    combined = "combined"


class OnFail(str, Enum):
    """``--on-fail``: a pod that cannot be placed waits for a departure (``queue``) or is counted and dropped."""

    queue = "queue"
    drop = "drop"
