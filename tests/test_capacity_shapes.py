"""Shapes: the text form, the pod it builds, default and workload shapes."""

from __future__ import annotations

import pytest

from migctl.capacity.shapes import Shape, ShapeError, default_shapes, shape_of_pod, shapes_from_pods
from migctl.config.model import NvidiaConfig
from migctl.simulate.synthetic import synthetic_cluster
from migctl.simulate.workloads import Document, pods_from_documents


@pytest.mark.parametrize("text, canonical", [
    ("gpu=1,gpumem=10000,mode=mig", "gpu=1,gpumem=10000,mode=mig"),
    ("mode=hami-core, gpumem=50%, cores=50", "gpu=1,gpumem=50%,cores=50,mode=hami-core"),
    ("gpu=2", "gpu=2"),
    ("count=1,gpumem-percentage=25,mode=either", "gpu=1,gpumem=25%"),
    ("GPU=1,GPUMEM=4000,MODE=MIG", "gpu=1,gpumem=4000,mode=mig"),
])
def test_parse_and_canonical_text(text, canonical):
    shape = Shape.parse(text)
    assert str(shape) == canonical
    assert Shape.parse(str(shape)) == shape


@pytest.mark.parametrize("text, words", [
    ("", "empty"),
    ("gpu=0", "gpu"),
    ("gpu=one", "gpu"),
    ("gpumem=-5", "gpumem"),
    ("gpumem=120%", "percentage"),
    ("gpumem=1000,gpumem-percentage=20", "twice"),
    ("cores=101", "cores"),
    ("mode=vgpu", "mode"),
    ("colour=red", "unknown key"),
    ("gpu", "key=value"),
])
def test_bad_shapes_name_the_field(text, words):
    with pytest.raises(ShapeError, match=words):
        Shape.parse(text)


def test_to_pod_asks_exactly_the_shape():
    cfg = NvidiaConfig.hami_defaults()
    pod = Shape.parse("gpu=2,gpumem=8000,cores=30,mode=mig").to_pod(cfg, name="p")
    (c,) = pod.containers
    assert c.limits == {"nvidia.com/gpu": 2, "nvidia.com/gpumem": 8000, "nvidia.com/gpucores": 30}
    assert pod.annotations == {"nvidia.com/vgpu-mode": "mig"}
    assert shape_of_pod(pod, cfg) == Shape(2, 8000, None, 30, "mig")
    either = Shape.parse("gpu=1,gpumem=50%").to_pod(cfg)
    assert either.annotations == {} and either.containers[0].limits["nvidia.com/gpumem-percentage"] == 50


def test_percentage_needs_the_resource_name():
    cfg = NvidiaConfig.hami_defaults(resource_memory_percentage_name="")
    with pytest.raises(ShapeError, match="resourceMemoryPercentageName"):
        Shape.parse("gpumem=50%").to_pod(cfg)


def test_default_shapes_follow_the_cluster():
    state = synthetic_cluster(4, 2)
    shapes = [str(s) for s, w in default_shapes(state) if w == 1.0]
    assert shapes == [
        "gpu=1,gpumem=4864,mode=mig", "gpu=1,gpumem=5120,mode=mig", "gpu=1,gpumem=9984,mode=mig",
        "gpu=1,gpumem=10240,mode=mig", "gpu=1,gpumem=19968,mode=mig", "gpu=1,gpumem=20480,mode=mig",
        "gpu=1,gpumem=40192,mode=mig", "gpu=1,gpumem=40960,mode=mig",
        "gpu=1,gpumem=10240,cores=25,mode=hami-core", "gpu=1,gpumem=20480,cores=50,mode=hami-core",
        "gpu=1,gpumem=40960,cores=100,mode=hami-core",
    ]


def _pods(text):
    import yaml

    return pods_from_documents([Document(d, "w.yaml", 1) for d in yaml.safe_load_all(text)])


def test_workload_shapes_are_distinct_with_shares():
    pods = _pods("""
kind: Deployment
metadata: {name: infer}
spec:
  replicas: 3
  template:
    metadata: {annotations: {nvidia.com/vgpu-mode: mig}}
    spec: {containers: [{name: c, resources: {limits: {nvidia.com/gpu: 1, nvidia.com/gpumem: "10000"}}}]}
---
kind: Pod
metadata: {name: train}
spec: {containers: [{name: c, resources: {limits: {nvidia.com/gpu: 2, cpu: "4"}}}]}
---
kind: Pod
metadata: {name: web}
spec: {containers: [{name: c, resources: {limits: {cpu: "1"}}}]}
""")
    shapes, notes = shapes_from_pods(pods, NvidiaConfig.hami_defaults())
    assert [(str(s), w) for s, w in shapes] == [("gpu=1,gpumem=10000,mode=mig", 0.75), ("gpu=2", 0.25)]
    assert notes == ["1 pod(s) ask for no GPU and are left out"]


def test_workload_pod_with_two_gpu_containers_is_refused():
    pods = _pods("""
kind: Pod
metadata: {name: two}
spec:
  containers:
  - {name: a, resources: {limits: {nvidia.com/gpu: 1}}}
  - {name: b, resources: {limits: {nvidia.com/gpu: 1}}}
""")
    with pytest.raises(ShapeError, match="pod default/two: 2 containers ask for GPUs"):
        shapes_from_pods(pods, NvidiaConfig.hami_defaults())


from hypothesis import given, strategies as st  # noqa: E402


@given(count=st.integers(1, 16), mem=st.one_of(st.none(), st.integers(1, 200_000)), pct=st.integers(1, 100),
       use_pct=st.booleans(), cores=st.one_of(st.none(), st.integers(0, 100)), mode=st.sampled_from(["mig", "hami-core", "either"]))
def test_text_round_trip(count, mem, pct, use_pct, cores, mode):
    shape = Shape(count, None if use_pct else mem, pct if use_pct else None, cores, mode)
    assert Shape.parse(str(shape)) == shape
    assert shape_of_pod(shape.to_pod(NvidiaConfig.hami_defaults()), NvidiaConfig.hami_defaults()) == shape
