"""Options and option choices shared by several commands: one declaration, one help text.

Only typer and the standard library: command modules import it at load.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

#: ``--kubeconfig`` / ``--context``: which cluster (the one resolution order is ``migctl.kube.find_config``).
KubeconfigOption = Annotated[str | None, typer.Option(
    "--kubeconfig", metavar="FILE", show_default=False,
    help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster).")]
ContextOption = Annotated[str | None, typer.Option(
    "--context", metavar="NAME", show_default=False, help="The kubeconfig context to use.")]
#: ``-n`` and ``--config-map``: where HAMi's ConfigMap is (pods are always read from every namespace).
NamespaceOption = Annotated[str | None, typer.Option(
    "-n", "--namespace", metavar="NAMESPACE", show_default=False,
    help="Namespace HAMi is installed in, where its ConfigMap is found (default: every namespace).")]
ConfigMapOption = Annotated[str | None, typer.Option(
    "--config-map", metavar="NAMESPACE/NAME", show_default=False,
    help="HAMi's scheduler device ConfigMap (default: found by the Helm chart's name or labels).")]
#: ``-l/--selector``: which nodes to read (server-side on a live cluster, the same grammar on snapshots).
SelectorOption = Annotated[str | None, typer.Option(
    "-l", "--selector", metavar="SELECTOR", show_default=False,
    help="Only nodes with these labels, and the pods on them (kubectl's grammar: a=b, a!=b, a in (b,c), "
         "a notin (b), a, !a; comma means and).")]

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


#: The scheduler's defaults, as HAMi's scheduler flags set them (pods override them with annotations).
NodePolicyOption = Annotated[Policy, typer.Option(
    "--node-policy", help="Scheduler default node policy (pods override with hami.io/node-scheduler-policy).")]
GpuPolicyOption = Annotated[GpuPolicy, typer.Option(
    "--gpu-policy", help="Scheduler default GPU policy (pods override with hami.io/gpu-scheduler-policy).")]
NodeScoreOption = Annotated[NodeScore, typer.Option("--node-score", help=(
    "hami: what HAMi does (GPU usage only); combined: HAMi's dynamic MIG design: GPU memory plus CPU and memory."))]
#: How trace and node-list GPUs map to the hardware catalogue (replay, advise config).
GpuModelOption = Annotated[str, typer.Option("--gpu-model", metavar="KEY", help=(
    "Catalogue model for every trace GPU, or TRACE_MODEL=KEY,... ('migctl hardware list')."))]
MigNodesOption = Annotated[str, typer.Option("--mig-nodes", metavar="N|P%|NAME,...", help=(
    "Nodes of the node list in MIG mode (the others hami-core); a count or share is spread evenly."))]
OnFailOption = Annotated[OnFail, typer.Option("--on-fail", help=(
    "Replay: a pod that does not fit waits and is retried after each departure (queue), or is counted "
    "and dropped (drop)."))]
