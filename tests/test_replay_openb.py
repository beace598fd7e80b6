"""The openb loader on the real trace files, the mapping rule, and bad rows named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from migctl.errors import InputError
from migctl.hardware.catalogue import load_catalogue
from migctl.replay.cluster import GpuModels, MigNodes, node_objects
from migctl.replay.openb import looks_like_openb, parse_node_list, parse_pod_list
from migctl.replay.trace import GpuAsk, TraceError, gpu_request, materialize

REPO = Path(__file__).resolve().parent.parent
# ../shared/data/openb beside the repository (a git worktree one level deeper looks one more up)
OPENB = next((p for p in (REPO.parent / "shared" / "data" / "openb", REPO.parent.parent / "shared" / "data" / "openb")
              if p.is_dir()), REPO.parent / "shared" / "data" / "openb")
PODS = OPENB / "openb_pod_list_default.csv"
NODES = OPENB / "openb_node_list_gpu_node.csv"
HEADER = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"

needs_openb = pytest.mark.skipif(not PODS.is_file() or not NODES.is_file(),
                                 reason=f"the openb trace is not at {OPENB} (shared/data/openb beside the repo)")


@needs_openb
def test_real_openb_pod_list():
    text = PODS.read_text()
    assert looks_like_openb(text)
    trace = parse_pod_list(text, str(PODS))
    assert len(trace) == 8152
    first = trace.tasks[0]
    assert (first.name, first.arrival, first.duration) == ("openb-pod-0000", 0.0, 12537496.0)
    assert first.ask == GpuAsk(1, 1000, 12000, 16384)
    counts = {}
    for t in trace.tasks:
        counts[t.ask.num_gpu] = counts.get(t.ask.num_gpu, 0) + 1
    assert counts == {0: 1088, 1: 6989, 2: 16, 4: 15, 8: 44}
    assert all(t.duration is not None and t.duration >= 0 for t in trace.tasks)
    arrivals = [t.arrival for t in trace.tasks]
    assert arrivals == sorted(arrivals)


@needs_openb
def test_real_openb_node_list_maps_to_a_mig_model():
    nodes = parse_node_list(NODES.read_text(), str(NODES))
    assert len(nodes) == 1213
    assert sum(n.gpus for n in nodes) == 6212
    assert {n.model for n in nodes} >= {"G2", "T4", "P100", "V100M16"}
    mig = MigNodes.parse("50%").select([n.name for n in nodes])
    assert len(mig) == 606 or len(mig) == 607
    objects = node_objects(nodes, GpuModels("a100-40gb"), mig, load_catalogue(), 10)
    assert len(objects) == 1213
    assert objects[0]["status"]["allocatable"]["cpu"] == "64000m"


def test_mapping_rule():
    assert gpu_request(GpuAsk(0, 0, 1000, 1024), 40960) == (0, None)
    assert gpu_request(GpuAsk(1, 500, 1000, 1024), 40960) == (1, 20480)
    assert gpu_request(GpuAsk(1, 470, 1000, 1024), 40960) == (1, 19252)  # ceil(0.47 * 40960)
    assert gpu_request(GpuAsk(1, 1000, 1000, 1024), 40960) == (1, None)  # whole GPU: exclusive
    assert gpu_request(GpuAsk(8, 1000, 1000, 1024), 81920) == (8, None)
    trace = parse_pod_list(HEADER + "p0,2000,4096,1,250,,LS,Running,0,10,0\np1,500,512,0,0,,BE,Running,5,,\n", "t.csv")
    pods = materialize(trace, 40960)
    assert pods[0].containers[0].limits == {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 10240}
    assert pods[0].cpu_request_m() == 2000 and pods[0].memory_request() == 4096 * 2**20
    assert pods[1].containers[0].limits == {} and trace.tasks[1].duration is None


def test_mig_nodes_selection():
    names = [f"n{i}" for i in range(10)]
    assert MigNodes.parse("50%").select(names) == {"n1", "n3", "n5", "n7", "n9"}
    assert MigNodes.parse("2").select(names) == {"n4", "n9"}
    assert MigNodes.parse("0%").select(names) == set()
    assert MigNodes.parse("n0,n2").select(names) == {"n0", "n2"}
    with pytest.raises(InputError, match="no node named zz"):
        MigNodes.parse("n0,zz").select(names)
    with pytest.raises(InputError, match="11 nodes asked"):
        MigNodes.parse("11").select(names)
    with pytest.raises(InputError, match="outside"):
        MigNodes.parse("150%")


@pytest.mark.parametrize("rows,message", [
    ("p0,2000,4096,one,250,,LS,Running,0,10,0\n", r"t\.csv:2: column num_gpu: expected a whole number, got 'one'"),
    ("p0,2000,4096,1,1250,,LS,Running,0,10,0\n", r"t\.csv:2: column gpu_milli: 1250 is out of range"),
    ("p0,2000,4096,1,250,,LS,Running,0,10,0\np1,2000,4096,1,250,,LS,Running,20,10,0\n",
     r"t\.csv:3: column deletion_time: 10 is before creation_time 20"),
    ("p0,2000,4096,1,250,,LS,Running,x,10,0\n", r"t\.csv:2: column creation_time: expected seconds"),
    ("p0,2000,4096,1,250\n", r"t\.csv:2: 5 fields, the header has 11"),
    ("p0,2000,4096,1,250,,LS,Running,0,10,0\np0,1,1,0,0,,LS,Running,0,10,0\n", r"t\.csv:3: column name: 'p0' already on line 2"),
    ("p0,2000,4096,1,0,,LS,Running,0,10,0\n", r"t\.csv:2: column gpu_milli: a task with num_gpu 1 needs a share"),
    ("", r"t\.csv: no tasks"),
])
def test_bad_pod_rows_name_the_row(rows, message):
    with pytest.raises(TraceError, match=message):
        parse_pod_list(HEADER + rows, "t.csv")


def test_bad_header_and_node_rows():
    with pytest.raises(TraceError, match=r"t\.csv:1: missing column\(s\) gpu_milli"):
        parse_pod_list("name,cpu_milli,memory_mib,num_gpu,creation_time,deletion_time\n", "t.csv")
    with pytest.raises(TraceError, match=r"n\.csv:3: column gpu: expected a whole number"):
        parse_node_list("sn,cpu_milli,memory_mib,gpu,model\na,1000,1024,2,T4\nb,1000,1024,two,T4\n", "n.csv")
    with pytest.raises(TraceError, match=r"n\.csv: empty file"):
        parse_node_list("", "n.csv")


def test_unknown_models_name_the_row():
    nodes = parse_node_list("sn,cpu_milli,memory_mib,gpu,model\na,1000,1024,2,T4\nb,1000,1024,2,G9\n", "n.csv")
    with pytest.raises(TraceError, match=r"n\.csv:3: column model: 'G9' has no --gpu-model mapping"):
        node_objects(nodes, GpuModels.parse("T4=a100-40gb"), set(), load_catalogue(), 10)
    with pytest.raises(InputError, match="unknown GPU model 'a100-41gb'"):
        node_objects(nodes, GpuModels.parse("a100-41gb"), set(), load_catalogue(), 10)
    objs = node_objects(nodes, GpuModels.parse("T4=a100-40gb,*=a100-80gb"), set(), load_catalogue(), 10)
    assert '"devmem":40960' in objs[0]["metadata"]["annotations"]["hami.io/node-nvidia-register"]
    assert '"devmem":81920' in objs[1]["metadata"]["annotations"]["hami.io/node-nvidia-register"]
