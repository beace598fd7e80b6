"""Usage reconstruction as HAMi's scheduler does it (hami.md §2.3), both MIG generations."""

from __future__ import annotations

import json
from dataclasses import dataclass

from migctl.cluster import codecs
from migctl.cluster.codecs import DeviceInfo, MigProfile
from migctl.cluster.model import Node, Pod
from migctl.cluster.usage import (
    DESIGN_CURRENT,
    DESIGN_LEGACY,
    build_node_usage,
    collapse_pod_devices,
    shifted_layout,
    platter_mig,
)
from migctl.hardware.placement import Placement


@dataclass(frozen=True)
class T:  # stands in for migctl.config.model.MigTemplate
    name: str
    memory: int
    core: int
    count: int


# v2.9 chart geometries for A100-40GB (hami.md §1.4)
A100_40 = (
    (T("1g.5gb", 5120, 14, 7),),
    (T("1g.5gb", 5120, 14, 1), T("2g.10gb", 10240, 28, 3)),
    (T("3g.20gb", 20480, 42, 2),),
    (T("7g.40gb", 40960, 100, 1),),
)


def node_obj(name, devices, *, fmt="json", extra=None, allocatable=None):
    text = codecs.encode_node_register_json(devices) if fmt == "json" else codecs.encode_node_register_colon(devices)
    ann = {codecs.NODE_REGISTER: text, **(extra or {})}
    return {"kind": "Node", "metadata": {"name": name, "annotations": ann},
            "status": {"allocatable": allocatable or {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "10"}}}


def pod_obj(name, node, devices, *, init=0, apps=1, phase="Running", mig=None, cpu="1", sidecar=False):
    ann = {codecs.POD_VGPU_NODE: node, codecs.POD_DEVICES_ALLOCATED: devices}
    if mig is not None:
        ann[codecs.POD_MIG_ALLOCATIONS] = mig
    res = {"requests": {"cpu": cpu, "memory": "1Gi"}}
    return {
        "kind": "Pod",
        "metadata": {"namespace": "default", "name": name, "annotations": ann},
        "spec": {
            "nodeName": node,
            "initContainers": [{"name": f"i{i}", "resources": res, **({"restartPolicy": "Always"} if sidecar else {})}
                               for i in range(init)],
            "containers": [{"name": f"c{i}", "resources": res} for i in range(apps)],
        },
        "status": {"phase": phase},
    }


GPU = dict(count=10, devmem=40960, devcore=100, type="NVIDIA A100-PCIE-40GB", health=True)


def test_hami_core_sums_app_containers_and_takes_init_peak():
    node = Node.from_object(node_obj("n1", [DeviceInfo("GPU-a", 0, mode="hami-core", **GPU),
                                            DeviceInfo("GPU-b", 1, mode="hami-core", **GPU)]))
    pods = [
        # init 8000 then two app containers 3000 + 2000 on GPU-a -> peak 8000 mem, 2 slots
        Pod.from_object(pod_obj("p1", "n1", "GPU-a,NVIDIA,8000,50:;GPU-a,NVIDIA,3000,10:;GPU-a,NVIDIA,2000,10:;",
                                init=1, apps=2)),
        Pod.from_object(pod_obj("p2", "n1", "GPU-b,NVIDIA,1000,0:;")),
        Pod.from_object(pod_obj("done", "n1", "GPU-b,NVIDIA,9999,0:;", phase="Succeeded")),
        Pod.from_object(pod_obj("elsewhere", "n2", "GPU-b,NVIDIA,9999,0:;")),
    ]
    usage = build_node_usage(node, pods)
    a, b = usage.devices
    assert (a.used, a.usedmem, a.usedcores) == (2, 8000, 50)
    assert (b.used, b.usedmem, b.usedcores) == (1, 1000, 0)
    assert usage.design is None and not usage.warnings
    assert usage.cpu_allocatable_millis == 8000
    # kube-scheduler: p1 = max(init 1, apps 2) = 2 cores, p2 = 1, elsewhere is on n2, done is terminal
    assert usage.cpu_requested_millis == 3000


def test_sidecar_init_containers_add_to_app_usage():
    pod = Pod.from_object(pod_obj("p", "n1", "GPU-a,NVIDIA,1000,10:;GPU-a,NVIDIA,3000,10:;", init=1, sidecar=True))
    (c,) = collapse_pod_devices(pod)
    assert (c.usedmem, c.usedcores, c.slots) == (4000, 20, 2)


def test_short_annotation_aligned_from_the_end_like_v28():
    # <= v2.8 lists only app containers: one entry for a pod with one init and one app container
    pod = Pod.from_object(pod_obj("p", "n1", "GPU-a,NVIDIA,3000,0:;", init=1))
    (c,) = collapse_pod_devices(pod)
    assert (c.usedmem, c.slots) == (3000, 1)


def test_platter_mig_expands_in_order():
    usage = platter_mig(A100_40, 1)
    assert usage.index == 1
    assert [u.name for u in usage.usage_list] == ["1g.5gb", "2g.10gb", "2g.10gb", "2g.10gb"]


def test_legacy_slots_mark_geometry_in_effect():
    node = Node.from_object(node_obj("mig", [DeviceInfo("GPU-m", 0, mode="mig", **GPU)]))
    pods = [Pod.from_object(pod_obj("p", "mig", "GPU-m[1-1],NVIDIA,10240,28:GPU-m[1-2],NVIDIA,10240,28:;"))]
    usage = build_node_usage(node, pods, templates_for=lambda t: A100_40 if "A100-PCIE-40GB" in t else None)
    (d,) = usage.devices
    assert usage.design == DESIGN_LEGACY
    assert d.mig_usage.index == 1
    assert [u.in_use for u in d.mig_usage.usage_list] == [False, True, True, False]
    assert d.legacy_geometry() == {"1g.5gb": 1, "2g.10gb": 3}
    assert (d.used, d.usedmem, d.usedcores) == (2, 20480, 56)
    assert d.health and not usage.warnings


def test_legacy_bad_slot_is_a_warning_not_a_panic():
    node = Node.from_object(node_obj("mig", [DeviceInfo("GPU-m", 0, mode="mig", **GPU)]))
    pods = [Pod.from_object(pod_obj("p", "mig", "GPU-m[9-0],NVIDIA,1,1:;")),
            Pod.from_object(pod_obj("q", "mig", "GPU-m[0-42],NVIDIA,1,1:;"))]
    usage = build_node_usage(node, pods, templates_for=lambda t: A100_40)
    messages = " ".join(w.message for w in usage.warnings)
    assert "only 4 geometries" in messages and "outside the 7 slots" in messages


def test_legacy_slot_without_config_warns_about_missing_model():
    node = Node.from_object(node_obj("mig", [DeviceInfo("GPU-m", 0, mode="mig", **GPU)]))
    pods = [Pod.from_object(pod_obj("p", "mig", "GPU-m[1-1],NVIDIA,10240,28:;"))]
    usage = build_node_usage(node, pods)
    assert [w.code for w in usage.warnings] == ["config-missing-model"]
    assert usage.devices[0].used == 1


def test_legacy_slot_on_hami_core_gpu_marks_it_unhealthy():
    node = Node.from_object(node_obj("n", [DeviceInfo("GPU-a", 0, mode="hami-core", **GPU)]))
    usage = build_node_usage(node, [Pod.from_object(pod_obj("p", "n", "GPU-a[0-0],NVIDIA,5120,14:;"))])
    assert not usage.devices[0].health and usage.warnings[0].code == "gpu-disagreement"


PROFILES = (
    MigProfile("1g.5gb", 4864, 15, 1, tuple(Placement(i, 1) for i in range(7))),
    MigProfile("2g.10gb", 9984, 29, 2, (Placement(0, 2), Placement(2, 2), Placement(4, 2))),
)


def mig_json(*entries):
    return json.dumps([
        {"containerIndex": c, "deviceIndex": d, "gpuUUID": g, "profile": p, "placement": {"start": s, "size": z}}
        for c, d, g, p, s, z in entries
    ])


def test_current_reservations_become_allocations_in_use():
    node = Node.from_object(node_obj("m", [DeviceInfo("GPU-x", 0, 7, 40960, 100, "NVIDIA A100-PCIE-40GB", 0, "mig",
                                                      True, PROFILES)]))
    pod = Pod.from_object(pod_obj("p", "m", "GPU-x,NVIDIA,9984,29:GPU-x,NVIDIA,9984,29:;",
                                  mig=mig_json((0, 0, "GPU-x", "2g.10gb", 0, 2), (0, 1, "GPU-x", "2g.10gb", 2, 2))))
    usage = build_node_usage(node, [pod])
    (d,) = usage.devices
    assert usage.design == DESIGN_CURRENT
    assert [(a.profile, a.placement.start, a.pod) for a in d.mig_allocations_in_use] == [
        ("2g.10gb", 0, "default/p"), ("2g.10gb", 2, "default/p")]
    assert (d.used, d.usedmem, d.usedcores) == (2, 19968, 58)
    assert d.health and not usage.warnings
    assert [len(p.mig_instances) for p in d.pods] == [2]


def test_current_mig_pod_without_reservation_marks_gpu_unhealthy():
    node = Node.from_object(node_obj("m", [DeviceInfo("GPU-x", 0, 7, 40960, 100, "A100", 0, "mig", True, PROFILES)]))
    usage = build_node_usage(node, [Pod.from_object(pod_obj("p", "m", "GPU-x,NVIDIA,9984,29:;"))])
    assert not usage.devices[0].health
    assert "without a matching" in usage.warnings[0].message


def test_current_reservation_on_unknown_gpu_marks_every_mig_gpu_unhealthy():
    node = Node.from_object(node_obj("m", [DeviceInfo("GPU-x", 0, 7, 40960, 100, "A100", 0, "mig", True, PROFILES),
                                           DeviceInfo("GPU-y", 1, 7, 40960, 100, "A100", 0, "mig", True, PROFILES)]))
    pod = Pod.from_object(pod_obj("p", "m", "GPU-x,NVIDIA,4864,15:;", mig=mig_json(
        (0, 0, "GPU-x", "1g.5gb", 6, 1), (0, 1, "GPU-gone", "1g.5gb", 5, 1))))
    usage = build_node_usage(node, [pod])
    assert [d.health for d in usage.devices] == [False, False]


def test_undecodable_pod_is_skipped_with_warning_and_unknown_gpu_is_reported():
    node = Node.from_object(node_obj("n", [DeviceInfo("GPU-a", 0, mode="hami-core", **GPU)]))
    bad = Pod.from_object(pod_obj("bad", "n", "GPU-a,NVIDIA,lots,0:;"))
    stale = Pod.from_object(pod_obj("stale", "n", "GPU-old,NVIDIA,100,0:;"))
    assert bad.devices is None and bad.warnings[0].code == "undecodable-pod"
    usage = build_node_usage(node, [bad, stale])
    assert usage.devices[0].used == 0
    assert [w.code for w in usage.warnings] == ["unknown-gpu"]


def test_copy_is_independent():
    node = Node.from_object(node_obj("mig", [DeviceInfo("GPU-m", 0, mode="mig", **GPU)]))
    pods = [Pod.from_object(pod_obj("p", "mig", "GPU-m[1-1],NVIDIA,10240,28:;"))]
    usage = build_node_usage(node, pods, templates_for=lambda t: A100_40)
    clone = usage.copy()
    clone.devices[0].used += 1
    clone.devices[0].mig_usage.usage_list[0].in_use = True
    clone.devices[0].mig_allocations_in_use.append(None)
    assert usage.devices[0].used == 1
    assert not usage.devices[0].mig_usage.usage_list[0].in_use
    assert usage.devices[0].mig_allocations_in_use == []


def test_explicit_design_follows_that_hami_version():
    node = Node.from_object(node_obj("m", [DeviceInfo("GPU-x", 0, 7, 40960, 100, "A100", 0, "mig", True, PROFILES)]))
    legacy_pod = Pod.from_object(pod_obj("old", "m", "GPU-x[0-0],NVIDIA,5120,14:;"))
    new_pod = Pod.from_object(pod_obj("new", "m", "GPU-x,NVIDIA,4864,15:;",
                                      mig=mig_json((0, 0, "GPU-x", "1g.5gb", 6, 1))))
    current = build_node_usage(node, [legacy_pod, new_pod], design=DESIGN_CURRENT)
    (d,) = current.devices
    assert (d.used, d.usedmem) == (1, 4864) and len(d.mig_allocations_in_use) == 1
    assert [w.code for w in current.warnings] == ["unknown-gpu"]
    legacy = build_node_usage(node, [legacy_pod, new_pod], design=DESIGN_LEGACY, templates_for=lambda t: A100_40)
    (d,) = legacy.devices
    assert (d.used, d.usedmem) == (2, 5120 + 4864)
    assert d.mig_allocations_in_use == [] and d.mig_usage.usage_list[0].in_use and d.health


# ------------------------------------------------------------ init containers per generation (issues 11 and 18)


def _pod_with(name, node, devices, *, init, apps, mig=None):
    """A running pod whose init/app containers are given as lists of limits (None: no GPU request)."""
    def ctr(prefix, i, gpu):
        limits = {"nvidia.com/gpu": str(gpu)} if gpu else {"cpu": "100m"}
        return {"name": f"{prefix}{i}", "resources": {"limits": limits}}
    ann = {codecs.POD_VGPU_NODE: node, codecs.POD_DEVICES_ALLOCATED: devices}
    if mig is not None:
        ann[codecs.POD_MIG_ALLOCATIONS] = mig
    return Pod.from_object({
        "kind": "Pod", "metadata": {"namespace": "default", "name": name, "annotations": ann},
        "spec": {"nodeName": node, "initContainers": [ctr("i", k, g) for k, g in enumerate(init)],
                 "containers": [ctr("c", k, g) for k, g in enumerate(apps)]},
        "status": {"phase": "Running"}})


def test_v2_9_rebuild_adds_init_devices_v2_10_takes_their_peak():
    """HAMi v2.9.0 ``onAddPod`` / ``PodManager.AddPod`` keep the decoded devices and ``getNodesUsage``
    adds every entry: init 8000 + app 3000 + app 2000 = 13000 MiB, 3 slots, 70 cores. v2.10.0
    ``CollapseInitContainerUsage``: max(init peak 8000, app sum 5000), max(1 slot, 2 slots)."""
    node = Node.from_object(node_obj("n1", [DeviceInfo("GPU-a", 0, mode="hami-core", **GPU)]))
    pod = _pod_with("p", "n1", "GPU-a,NVIDIA,8000,50:;GPU-a,NVIDIA,3000,10:;GPU-a,NVIDIA,2000,10:;",
                    init=[1], apps=[1, 1])
    (old,) = build_node_usage(node, [pod], design=DESIGN_LEGACY).devices
    assert (old.used, old.usedmem, old.usedcores) == (3, 13000, 70)
    assert old.pods[0].slots == 3
    (new,) = build_node_usage(node, [pod], design=DESIGN_CURRENT).devices
    assert (new.used, new.usedmem, new.usedcores) == (2, 8000, 50)


def test_v2_10_rebuild_counts_sidecars_as_init_containers():
    """v2.10.0 ``CollapseInitContainerUsage`` has no sidecar case: every entry below the number of init
    containers is an init container's (peak), restartPolicy or not; the default collapse (records of
    unknown generation) adds sidecars to the app sum."""
    pod = Pod.from_object(pod_obj("p", "n1", "GPU-a,NVIDIA,1000,10:;GPU-a,NVIDIA,3000,10:;", init=1, sidecar=True))
    (c,) = collapse_pod_devices(pod, exact_v2_10=True)
    assert (c.usedmem, c.usedcores, c.slots) == (3000, 10, 1)
    (c,) = collapse_pod_devices(pod)
    assert (c.usedmem, c.usedcores, c.slots) == (4000, 20, 2)


def test_v2_10_rebuild_reads_the_unpadded_layout_as_init_and_warns():
    """v2.10.0 wrote ``GPU-a,...:;GPU-a,...:;`` for [GPU-less init, app c0, app c1] (only the GPU
    containers' entries). ``DecodePodDevices`` keeps the entries as they are and
    ``CollapseInitContainerUsage`` takes entry 0 (< 1 init container) as an init container's: per GPU
    max(peak 1 slot 1000 MiB, app 1 slot 1000 MiB) = 1 slot, 1000 MiB. v2.9.0 adds both entries. The
    rebuild warns (``shifted-containers``) outside the legacy design only."""
    node = Node.from_object(node_obj("n1", [DeviceInfo("GPU-a", 0, mode="hami-core", **GPU)]))
    pod = _pod_with("p", "n1", "GPU-a,NVIDIA,1000,0:;GPU-a,NVIDIA,1000,0:;", init=[None], apps=[1, 1])
    assert shifted_layout(pod) == (1, 2)
    current = build_node_usage(node, [pod], design=DESIGN_CURRENT)
    (d,) = current.devices
    assert (d.used, d.usedmem) == (1, 1000)
    (w,) = current.warnings
    assert w.code == "shifted-containers" and w.pod == "default/p"
    assert "'c0' (container 1) at entry 0" in w.message and "counts the devices of 'c0' as an init" in w.message
    legacy = build_node_usage(node, [pod], design=DESIGN_LEGACY)
    assert (legacy.devices[0].used, legacy.devices[0].usedmem) == (2, 2000) and not legacy.warnings
    # the padded layout, and a trailing GPU-less container left out, are not shifted
    assert shifted_layout(_pod_with("q", "n1", ";GPU-a,NVIDIA,1000,0:;", init=[None], apps=[1])) is None
    assert shifted_layout(_pod_with("r", "n1", "GPU-a,NVIDIA,1000,0:;", init=[], apps=[1, None])) is None
    # another count resource name
    assert shifted_layout(pod, "example.com/vgpu") is None


def test_legacy_pod_with_two_geometries_on_one_gpu_is_warned():
    """Init ``[2-0]`` and app ``[1-1]`` on one GPU (what fresh-copy init accounting wrote): v2.9.0
    ``getNodesUsage`` expands geometry 2 for the first entry and marks slot 1 of it for the second
    (``UsageList[Instance]`` unchecked): the rebuild warns that v2.9.0 cannot rebuild the pod."""
    node = Node.from_object(node_obj("mig", [DeviceInfo("GPU-m", 0, mode="mig", **GPU)]))
    pod = _pod_with("p", "mig", "GPU-m[2-0],NVIDIA,20480,42:;GPU-m[1-1],NVIDIA,10240,28:;", init=[1], apps=[1])
    usage = build_node_usage(node, [pod], templates_for=lambda t: A100_40)
    (d,) = usage.devices
    assert usage.design == DESIGN_LEGACY and d.mig_index == 2
    assert [s.in_use for s in d.usage_list] == [True, True]
    assert (d.used, d.usedmem) == (2, 30720)
    (w,) = usage.warnings
    assert w.code == "gpu-disagreement" and "geometries 2 and 1 on GPU-m" in w.message
    assert "HAMi v2.9.0 cannot rebuild this" in w.message
