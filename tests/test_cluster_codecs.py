"""HAMi annotation codecs: every format of hami.md §2–3, round trips, and garbage that must not crash."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migctl.cluster import codecs
from migctl.cluster.codecs import (
    AnnotationError,
    ContainerDevice,
    DeviceInfo,
    MigAllocation,
    MigProfile,
)
from migctl.hardware.placement import Placement

UTC = timezone.utc

# --- node register -----------------------------------------------------------------------------------------


def test_colon_register_nine_fields_as_in_hami_md():
    text = "GPU-0fc3eda5-e98b-a25b-5b0d-cf5c855d1448,10,40960,100,NVIDIA-NVIDIA A100-PCIE-40GB,0,true,0,mig:"
    reg = codecs.decode_node_register(text)
    assert reg.format == codecs.REGISTER_COLON and reg.colon_fields == 9
    (d,) = reg.devices
    assert d == DeviceInfo(
        id="GPU-0fc3eda5-e98b-a25b-5b0d-cf5c855d1448", index=0, count=10, devmem=40960, devcore=100,
        type="NVIDIA-NVIDIA A100-PCIE-40GB", numa=0, mode="mig", health=True,
    )


def test_colon_register_seven_fields_defaults_to_hami_core_index_0():
    reg = codecs.decode_node_register("GPU-a,10,16384,100,NVIDIA-Tesla T4,0,false:GPU-b,10,16384,100,NVIDIA-Tesla T4,1,true:")
    assert reg.colon_fields == 7
    assert [(d.id, d.mode, d.index, d.health, d.numa) for d in reg.devices] == [
        ("GPU-a", "hami-core", 0, False, 0),
        ("GPU-b", "hami-core", 0, True, 1),
    ]


def test_json_register_v28_missing_health_means_unhealthy_and_missing_index_zero():
    text = ('[{"id":"GPU-aaa","count":10,"devmem":40960,"devcore":100,"type":"NVIDIA A100-PCIE-40GB",'
            '"mode":"hami-core","health":true},{"id":"GPU-bbb","index":1,"count":10,"devmem":40960,'
            '"devcore":100,"type":"NVIDIA A100-PCIE-40GB","mode":"hami-core"}]')
    reg = codecs.decode_node_register(text)
    assert reg.format == codecs.REGISTER_JSON and not reg.has_mig_profiles
    a, b = reg.devices
    assert (a.index, a.health, a.numa) == (0, True, 0)
    assert (b.index, b.health) == (1, False)


def test_json_register_v210_mig_profiles():
    text = ('[{"id":"GPU-aaa","count":7,"devmem":40960,"devcore":100,"type":"NVIDIA A100-PCIE-40GB","mode":"mig",'
            '"migProfiles":[{"name":"2g.10gb","memoryMB":9984,"core":29,"sliceCount":2,'
            '"placements":[{"start":0,"size":2},{"start":2,"size":2},{"start":4,"size":2}]}],"health":true}]')
    reg = codecs.decode_node_register(text)
    assert reg.has_mig_profiles
    (p,) = reg.devices[0].mig_profiles
    assert p == MigProfile("2g.10gb", 9984, 29, 2, (Placement(0, 2), Placement(2, 2), Placement(4, 2)))


def test_json_keys_match_case_insensitively_like_go():
    reg = codecs.decode_node_register('[{"ID":"GPU-a","Count":3,"Health":true}]')
    assert (reg.devices[0].id, reg.devices[0].count, reg.devices[0].health) == ("GPU-a", 3, True)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("[]", "empty"),
        ("null", "null"),
        ('{"id":"x"}', "list"),
        ("[{]", "invalid JSON"),
        ('[{"id":"a","count":"10"}]', "'count' must be an integer"),
        ('[{"id":"a","count":10.5}]', "'count' must be an integer"),
        ('[{"id":"a","count":true}]', "'count' must be an integer"),
        ('[{"id":"a","health":"yes"}]', "'health'"),
        ('[{"id":"a","count":99999999999}]', "out of range"),
        ('[{"id":"a","index":-1}]', "out of range"),
        ('[{"id":5}]', "'id' must be a string"),
        ('["GPU-a"]', "must be an object"),
        ('[{"id":"a","migProfiles":{}}]', "'migProfiles' must be a list"),
        ('[{"id":"a","migProfiles":[{"name":"1g","placements":[1]}]}]', "placement 0"),
        ("GPU-a,10,40960:", "3 comma fields"),
        ("GPU-a,ten,40960,100,T4,0,true:", "integers"),
        ("GPU-a,10,40960,100,T4,0,maybe:", "health"),
        ("GPU-a,10,40960,100,T4,0,true,x,mig:", "index"),
        ("hello world", "neither"),
        ("no devices here:", "no device records"),
    ],
)
def test_register_garbage_raises_annotation_error(text, fragment):
    with pytest.raises(AnnotationError, match=None) as info:
        codecs.decode_node_register(text)
    assert fragment in str(info.value)


_uuid = st.from_regex(r"GPU-[0-9a-f]{8}", fullmatch=True)
_int32 = st.integers(min_value=0, max_value=2**31 - 1)
_profile = st.builds(
    MigProfile,
    name=st.sampled_from(["1g.5gb", "2g.10gb", "3g.20gb", "7g.40gb"]),
    memory_mib=_int32, core=st.integers(0, 100), slice_count=st.integers(0, 8),
    placements=st.lists(st.builds(Placement, st.integers(0, 7), st.integers(0, 8)), max_size=4).map(tuple),
)
_device = st.builds(
    DeviceInfo, id=_uuid, index=st.integers(0, 15), count=_int32, devmem=_int32, devcore=st.integers(0, 100),
    type=st.sampled_from(["NVIDIA A100-PCIE-40GB", "NVIDIA H100 80GB HBM3", "Tesla T4"]),
    numa=st.integers(0, 3), mode=st.sampled_from(["hami-core", "mig", "mps"]), health=st.booleans(),
    mig_profiles=st.lists(_profile, max_size=3).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_device, min_size=1, max_size=6))
def test_json_register_round_trip(devices):
    reg = codecs.decode_node_register(codecs.encode_node_register_json(devices))
    assert list(reg.devices) == devices


@settings(max_examples=60, deadline=None)
@given(st.lists(_device.map(lambda d: DeviceInfo(d.id, d.index, d.count, d.devmem, d.devcore, d.type, d.numa,
                                                 d.mode, d.health)), min_size=1, max_size=6))
def test_colon_register_round_trip_nine_fields(devices):
    assert list(codecs.decode_node_register(codecs.encode_node_register_colon(devices)).devices) == devices


_ODD = st.one_of(st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.sampled_from([0, 1, -1, 2**31, 2**63]),
                 st.text(max_size=3), st.just([]), st.just({}))
_RAW_DEVICE = st.fixed_dictionaries({}, optional={
    key: st.one_of(plain, _ODD) for key, plain in {
        "id": _uuid, "index": st.integers(0, 15), "count": _int32, "devmem": _int32, "devcore": st.integers(0, 100),
        "type": st.just("NVIDIA A100-PCIE-40GB"), "numa": st.integers(-1, 3), "mode": st.just("mig"),
        "health": st.booleans(), "ID": _uuid, "custominfo": st.none(),
        "migProfiles": st.sampled_from([[], [{"name": "1g.5gb", "memoryMB": 4864, "core": 14, "sliceCount": 1}]]),
    }.items()})


def assert_shortcut_agrees(shortcut: str, decode, text: str) -> None:
    """``decode(text)`` gives the same value, or the same AnnotationError message, with the fast path
    ``codecs.<shortcut>`` switched off (it then answers None: "not mine")."""

    def outcome():
        try:
            return decode(text)
        except AnnotationError as exc:
            return str(exc)

    fast = outcome()
    saved = getattr(codecs, shortcut)
    setattr(codecs, shortcut, lambda *args: None)
    try:
        assert fast == outcome()
    finally:
        setattr(codecs, shortcut, saved)


@settings(max_examples=300, deadline=None)
@given(st.lists(_RAW_DEVICE, min_size=1, max_size=4))
def test_plain_device_shortcut_decodes_as_the_checked_path(devices):
    """The shortcut for devices as the plugin writes them builds exactly what the checked path builds
    (values, and the same error when one is wrong)."""
    assert_shortcut_agrees("_plain_device", codecs.decode_node_register, json.dumps(devices))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_register_decoder_never_raises_anything_but_annotation_error(text):
    try:
        codecs.decode_node_register(text)
    except AnnotationError:
        pass


# --- handshake, lock, cordon ------------------------------------------------------------------------------


def test_handshake_forms():
    reported = codecs.decode_handshake("Reported 2024-01-12 10:00:00.123456789 +0800 CST m=+12.345")
    assert reported.state == codecs.HANDSHAKE_REPORTED
    assert reported.at == datetime(2024, 1, 12, 2, 0, 0, 123456, tzinfo=UTC)
    req = codecs.decode_handshake("Requesting_2024-01-12 10:00:00")
    assert req.state == codecs.HANDSHAKE_REQUESTING and req.at == datetime(2024, 1, 12, 10, tzinfo=UTC)
    assert codecs.decode_handshake("Deleted_2024-01-12 10:00:00").state == codecs.HANDSHAKE_DELETED
    assert codecs.decode_handshake("Requesting_garbage").at is None


def test_handshake_staleness_is_requesting_older_than_60s():
    hs = codecs.decode_handshake("Requesting_2024-01-12 10:00:00")
    assert not hs.is_stale(datetime(2024, 1, 12, 10, 0, 59, tzinfo=UTC))
    assert hs.is_stale(datetime(2024, 1, 12, 10, 1, 1, tzinfo=UTC))
    assert not codecs.decode_handshake("Reported 2020-01-01 00:00:00").is_stale(datetime.now(UTC))


def test_handshake_round_trip_and_garbage():
    at = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    for state in (codecs.HANDSHAKE_REQUESTING, codecs.HANDSHAKE_DELETED, codecs.HANDSHAKE_REPORTED):
        hs = codecs.decode_handshake(codecs.encode_handshake(state, at))
        assert (hs.state, hs.at) == (state, at)
    with pytest.raises(AnnotationError):
        codecs.decode_handshake("hello")


def test_node_lock_forms():
    lock = codecs.decode_node_lock("2024-01-12T10:00:00Z,default,gpu-pod1")
    assert (lock.at, lock.namespace, lock.pod, lock.holder) == (
        datetime(2024, 1, 12, 10, tzinfo=UTC), "default", "gpu-pod1", "default/gpu-pod1")
    bare = codecs.decode_node_lock("2024-01-12T10:00:00+08:00")
    assert bare.pod is None and bare.at == datetime(2024, 1, 12, 2, tzinfo=UTC)
    assert lock.is_expired(lock.at + timedelta(minutes=6)) and not lock.is_expired(lock.at + timedelta(minutes=4))
    for value in (lock, bare):
        assert codecs.decode_node_lock(codecs.encode_node_lock(value)) == value


@pytest.mark.parametrize("text", ["", "yesterday", "2024-01-12T10:00:00Z,default", "2024-13-45T10:00:00Z,a,b",
                                  "2024-01-12T10:00:00Z,ns,"])
def test_node_lock_garbage(text):
    with pytest.raises(AnnotationError):
        codecs.decode_node_lock(text)


def test_device_cordon():
    assert codecs.decode_device_cordon(" GPU-a, GPU-b ,,") == frozenset({"GPU-a", "GPU-b"})
    assert codecs.decode_device_cordon("") == frozenset()
    assert codecs.decode_device_cordon(codecs.encode_device_cordon({"GPU-b", "GPU-a"})) == {"GPU-a", "GPU-b"}


# --- pod devices -----------------------------------------------------------------------------------------


def test_pod_devices_two_containers_and_consumed_forms():
    pd = codecs.decode_pod_devices("GPU-aaa,NVIDIA,3000,0:;GPU-aaa,NVIDIA,5000,0:;")
    assert pd == ((ContainerDevice("GPU-aaa", "NVIDIA", 3000, 0),), (ContainerDevice("GPU-aaa", "NVIDIA", 5000, 0),))
    assert codecs.decode_pod_devices(";") == ((),)
    assert codecs.decode_pod_devices(";;") == ((), ())
    assert codecs.decode_pod_devices("") == ()


def test_pod_devices_legacy_mig_slot_suffix():
    (ctr,) = codecs.decode_pod_devices("GPU-aaa[1-1],NVIDIA,10240,28:GPU-aaa[1-2],NVIDIA,10240,28:;")
    assert [(d.uuid, d.mig_slot, d.raw_uuid) for d in ctr] == [
        ("GPU-aaa", (1, 1), "GPU-aaa[1-1]"), ("GPU-aaa", (1, 2), "GPU-aaa[1-2]")]


def test_pod_devices_init_container_first_with_empty_entry():
    pd = codecs.decode_pod_devices("GPU-a,NVIDIA,1000,10:;;GPU-a,NVIDIA,2000,20:GPU-b,NVIDIA,2000,20:;")
    assert [len(c) for c in pd] == [1, 0, 2]


@pytest.mark.parametrize(
    "text",
    ["GPU-a,NVIDIA:;", "GPU-a,NVIDIA,lots,0:;", "GPU-a,NVIDIA,100,x:;", "GPU-a[1-x],NVIDIA,1,1:;",
     "GPU-a[1-2,NVIDIA,1,1:;", ",NVIDIA,1,1:;", "GPU-a,NVIDIA,99999999999,0:;"],
)
def test_pod_devices_garbage(text):
    with pytest.raises(AnnotationError):
        codecs.decode_pod_devices(text)


_ctr_device = st.builds(
    ContainerDevice, uuid=_uuid, type=st.just("NVIDIA"), usedmem=_int32, usedcores=st.integers(0, 100),
    mig_slot=st.none() | st.tuples(st.integers(0, 5), st.integers(0, 7)),
)


_FIELD = st.one_of(st.sampled_from(["GPU-a", " GPU-b ", "NVIDIA", "4000", "10", "0", "", " 1", "+1", "-1", "1_0",
                                    "٣", "²", "999999999", "1234567890", "a[1-2]", "GPU-a[0-6]", "[0-1]",
                                    "a[1-x]", "a[-1-٣]", "x;y", "a:b"]),
                   st.text(alphabet="09 ,:;[]-+_aG", max_size=6))


@settings(max_examples=400, deadline=None)
@given(st.lists(_FIELD, min_size=1, max_size=6).map(",".join), st.sampled_from([":;", ":", ";", "", ":;;", "::;"]))
def test_plain_pod_device_shortcut_decodes_as_the_checked_path(record, end):
    """The shortcut for one container with one device builds exactly what the general decoder builds,
    and leaves everything else (errors included) to it."""
    assert_shortcut_agrees("_plain_pod_device", codecs.decode_pod_devices, record + end)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(_ctr_device, max_size=3).map(tuple), min_size=1, max_size=4).map(tuple))
def test_pod_devices_round_trip(containers):
    assert codecs.decode_pod_devices(codecs.encode_pod_devices(containers)) == containers


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="GPU-ab[]0123456789,:;NVIDA ", max_size=60))
def test_pod_devices_decoder_never_crashes(text):
    try:
        codecs.decode_pod_devices(text)
    except AnnotationError:
        pass


# --- MIG allocations ---------------------------------------------------------------------------------------


def test_mig_allocations_decode_with_and_without_runtime_identity():
    text = ('[{"containerIndex":0,"deviceIndex":0,"gpuUUID":"GPU-aaa","profile":"2g.10gb",'
            '"placement":{"start":0,"size":2}},{"containerIndex":0,"deviceIndex":1,"gpuUUID":"GPU-aaa",'
            '"profile":"2g.10gb","placement":{"start":2,"size":2},"migUUID":"MIG-1","gpuInstanceID":3,'
            '"computeInstanceID":0}]')
    a, b = codecs.decode_mig_allocations(text)
    assert a == MigAllocation(0, 0, "GPU-aaa", "2g.10gb", Placement(0, 2))
    assert not a.runtime_ready and b.runtime_ready and b.gpu_instance_id == 3 and b.compute_instance_id == 0


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("{", "invalid JSON"),
        ('{"a":1}', "list"),
        ('[{"containerIndex":0,"deviceIndex":0,"gpuUUID":"","profile":"1g.5gb","placement":{"start":0,"size":1}}]',
         "incomplete"),
        ('[{"containerIndex":0,"deviceIndex":0,"gpuUUID":"G","profile":"1g.5gb","placement":{"start":0,"size":0}}]',
         "incomplete"),
        ('[{"containerIndex":-1,"deviceIndex":0,"gpuUUID":"G","profile":"1g","placement":{"start":0,"size":1}}]',
         "incomplete"),
        ('[{"containerIndex":0,"deviceIndex":0,"gpuUUID":"G","profile":"1g","placement":{"start":0,"size":1},'
         '"migUUID":"MIG-x"}]', "partial runtime identity"),
        ('[{"containerIndex":0,"deviceIndex":0,"gpuUUID":"G","profile":"1g","placement":{"start":0,"size":1}},'
         '{"containerIndex":0,"deviceIndex":0,"gpuUUID":"G","profile":"1g","placement":{"start":1,"size":1}}]',
         "duplicate"),
        ('[{"containerIndex":"0","deviceIndex":0,"gpuUUID":"G","profile":"1g","placement":{"start":0,"size":1}}]',
         "integer"),
        ('[{"containerIndex":0,"deviceIndex":0,"gpuUUID":"G","profile":"1g","placement":[0,1]}]', "placement"),
    ],
)
def test_mig_allocations_garbage(text, fragment):
    with pytest.raises(AnnotationError) as info:
        codecs.decode_mig_allocations(text)
    assert fragment in str(info.value)


_alloc = st.builds(
    lambda c, d, g, p, start, size, rt: MigAllocation(
        c, d, g, p, Placement(start, size),
        *(("MIG-" + g[4:], rt[0], rt[1]) if rt else (None, None, None)),
    ),
    st.integers(0, 3), st.integers(0, 3), _uuid, st.sampled_from(["1g.5gb", "3g.20gb"]),
    st.integers(0, 7), st.integers(1, 8), st.none() | st.tuples(st.integers(0, 20), st.integers(0, 5)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_alloc, max_size=5, unique_by=lambda a: (a.container_index, a.device_index)))
def test_mig_allocations_round_trip(allocs):
    assert list(codecs.decode_mig_allocations(codecs.encode_mig_allocations(allocs))) == allocs


def test_placement_overlap_rule():
    assert Placement(0, 4).overlaps(Placement(2, 2))
    assert not Placement(0, 2).overlaps(Placement(2, 2))


def test_geometry_applied():
    assert codecs.decode_geometry_applied('{"0":"2g.10gb:3,1g.5gb:1"}') == {"0": "2g.10gb:3,1g.5gb:1"}
    for bad in ("[1]", '{"0":3}', "{"):
        with pytest.raises(AnnotationError):
            codecs.decode_geometry_applied(bad)


def test_node_score():
    text = '[{"uuid":"GPU-a","score":{"GPU-b":60}},{"uuid":"GPU-b","score":{"GPU-a":60}}]'
    scores = codecs.decode_node_score(text)
    assert scores == {"GPU-a": {"GPU-b": 60}, "GPU-b": {"GPU-a": 60}}
    assert codecs.decode_node_score(codecs.encode_node_score(scores)) == scores
    for bad in ("{", "{}", '[{"score":{}}]', '[{"uuid":"a","score":{"b":"x"}}]', '[{"uuid":"a","score":[1]}]'):
        with pytest.raises(AnnotationError):
            codecs.decode_node_score(bad)
