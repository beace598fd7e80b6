"""The Node annotation protocol codec (migctl.node_protocol) and the mig-parted compatibility file."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migctl import node_protocol as protocol
from migctl.daemon.contract import GpuState
from migctl.config.migparted import parse_mig_parted_config
from migctl.node_protocol import (
    DesiredGeometry,
    GpuRef,
    ProtocolError,
    Report,
    State,
    answer_for,
    parse_desired,
    read_report,
    with_gpu_geometry,
)
from migctl.errors import InputError

GPUS = [GpuRef(0, "GPU-aaaa"), GpuRef(1, "GPU-bbbb"), GpuRef(2, "GPU-cccc")]


def test_plain_geometry_is_canonicalised_and_covers_every_gpu() -> None:
    desired = parse_desired(" 1g.5gb:1, 2g.10gb:3 ")
    assert desired.to_annotation() == "2g.10gb:3,1g.5gb:1"
    assert desired.targets(GPUS) == {0: "2g.10gb:3,1g.5gb:1", 1: "2g.10gb:3,1g.5gb:1", 2: "2g.10gb:3,1g.5gb:1"}


def test_disabled_and_empty_geometries() -> None:
    assert parse_desired("Disabled").targets(GPUS[:1]) == {0: "disabled"}
    assert parse_desired('{"0": ""}').targets(GPUS) == {0: ""}  # MIG on, no instances


def test_json_mapping_by_index_uuid_and_star_with_precedence() -> None:
    desired = parse_desired('{"*": "1g.5gb:7", "1": "disabled", "GPU-cccc": "3g.20gb:2", "2": "7g.40gb:1"}')
    # UUID beats index beats "*"
    assert desired.targets(GPUS) == {0: "1g.5gb:7", 1: "disabled", 2: "3g.20gb:2"}
    assert json.loads(desired.to_annotation()) == {"*": "1g.5gb:7", "1": "disabled", "2": "7g.40gb:1", "GPU-cccc": "3g.20gb:2"}


def test_gpus_not_named_are_left_alone() -> None:
    assert parse_desired('{"0": "1g.5gb:7"}').targets(GPUS) == {0: "1g.5gb:7"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2g.10gb:x", "not a geometry"),
        ("{not json", "not valid JSON at line 1"),
        ("[]", "not a geometry"),
        ("{}", "non-empty object"),
        ('{"zero": "1g.5gb:1"}', "not a GPU index"),
        ('{"0": 7}', "must be a string"),
        ('{"0": "1g.5gb:0"}', "GPU '0'"),
        ("x" * 20000, "more than"),
    ],
)
def test_bad_desired_values_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_desired(text)
    assert fragment in str(info.value)
    assert protocol.DESIRED in str(info.value)


def test_a_selector_for_a_missing_gpu_is_an_error_naming_the_gpus() -> None:
    with pytest.raises(ProtocolError, match=r"no GPU '7'.*GPU-aaaa"):
        parse_desired('{"7": "1g.5gb:7"}').targets(GPUS)


def test_set_geometry_helper_merges_per_gpu_entries() -> None:
    assert with_gpu_geometry(None, "1g.5gb:1,2g.10gb:3") == "2g.10gb:3,1g.5gb:1"
    assert with_gpu_geometry("1g.5gb:7", "disabled", ["1"]) == '{"*":"1g.5gb:7","1":"disabled"}'
    merged = with_gpu_geometry('{"0":"1g.5gb:7"}', "3g.20gb:2", ["GPU-bbbb", "2"])
    assert json.loads(merged) == {"0": "1g.5gb:7", "2": "3g.20gb:2", "GPU-bbbb": "3g.20gb:2"}
    # without --gpu the request is replaced as a whole
    assert with_gpu_geometry('{"0":"1g.5gb:7"}', "7g.40gb:1") == "7g.40gb:1"
    with pytest.raises(ProtocolError, match="--gpu"):
        with_gpu_geometry(None, "1g.5gb:1", ["*"])
    with pytest.raises(ProtocolError, match="GEOMETRY"):
        with_gpu_geometry(None, "bogus")


def test_report_round_trips_through_annotations() -> None:
    report = Report(State.failed, "1g.5gb:7", {1: "disabled", 0: "2g.10gb:3"}, "busy")
    values = report.to_annotations()
    assert values[protocol.APPLIED] == '{"0":"2g.10gb:3","1":"disabled"}'
    assert read_report({k: v for k, v in values.items() if v is not None}) == Report(
        State.failed, "1g.5gb:7", {0: "2g.10gb:3", 1: "disabled"}, "busy"
    )
    success = Report(State.success, "x", {}).to_annotations()
    assert success[protocol.MESSAGE] is None  # a stale message is removed by the merge patch


def test_read_report_is_lenient() -> None:
    assert read_report({}) is None
    odd = read_report({protocol.STATE: "exploded", protocol.APPLIED: "not json"})
    assert odd is not None and odd.state is State.failed and "exploded" in (odd.message or "")


def test_answer_for_ignores_answers_to_other_requests() -> None:
    old = Report(State.success, "1g.5gb:7").to_annotations()
    assert answer_for({k: v for k, v in old.items() if v}, "7g.40gb:1") is None
    applying = Report(State.applying, "7g.40gb:1").to_annotations()
    assert answer_for({k: v for k, v in applying.items() if v}, "7g.40gb:1") is None
    done = Report(State.refused, "7g.40gb:1", {}, "busy").to_annotations()
    answer = answer_for({k: v for k, v in done.items() if v}, "7g.40gb:1")
    assert answer is not None and answer.state is State.refused


selectors = st.one_of(st.integers(0, 15).map(str), st.sampled_from(["*", "GPU-aaaa", "GPU-bbbb"]))
geometries = st.sampled_from(["1g.5gb:7", "2g.10gb:3,1g.5gb:1", "disabled", "", "3g.20gb:2", "7g.40gb:1"])


@given(st.dictionaries(selectors, geometries, min_size=1, max_size=6))
def test_annotation_text_round_trips(mapping: dict[str, str]) -> None:
    desired = parse_desired(json.dumps(mapping))
    again = parse_desired(desired.to_annotation())
    assert again.mapping == desired.mapping == mapping


@given(st.text(max_size=60))
def test_parse_desired_never_raises_anything_but_protocol_error(text: str) -> None:
    try:
        parse_desired(text)
    except ProtocolError:
        pass


def test_every_gpu_constructor() -> None:
    assert DesiredGeometry.every_gpu("1g.5gb:2").to_annotation() == "1g.5gb:2"


# --- mig-parted compatibility ------------------------------------------------------------------

MIG_PARTED = """\
version: v1
mig-configs:
  all-disabled:
    - devices: all
      mig-enabled: false
  all-1g.5gb:
    - devices: all
      mig-enabled: true
      mig-devices:
        "1g.5gb": 7
  custom:
    - devices: all
      mig-enabled: true
      mig-devices: {"1c.1g.5gb": 1, "2g.10gb": 3}
    - devices: [1]
      mig-enabled: false
    - devices: all
      device-filter: ["0x20B010DE", "garbage"]
      mig-enabled: true
      mig-devices: {"7g.40gb": 1}
"""


def test_mig_parted_config_selects_per_gpu_geometries_later_entries_win() -> None:
    config = parse_mig_parted_config(MIG_PARTED, "mig.yaml")
    gpus = [GpuState(0, "GPU-a", pci_device_id=0x20B010DE), GpuState(1, "GPU-b", pci_device_id=0x20F110DE), GpuState(2, "GPU-c")]
    assert config.targets("all-disabled", gpus) == {0: "disabled", 1: "disabled", 2: "disabled"}
    assert config.targets("custom", gpus) == {0: "7g.40gb:1", 1: "disabled", 2: "2g.10gb:3,1g.5gb:1"}
    with pytest.raises(ProtocolError, match=r"no config 'nope' in mig.yaml \(known: all-1g.5gb, all-disabled, custom\)"):
        config.targets("nope", gpus)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("version: v2\nmig-configs: {a: [{devices: all, mig-enabled: false}]}\n", "mig.yaml:1: version: must be 'v1'"),
        ("version: v1\nmig-configs:\n  a:\n    - devices: all\n      mig-enabled: false\n      extra: 1\n",
         "mig.yaml:6: mig-configs.a[0].extra: unknown key"),
        ("version: v1\nmig-configs:\n  a:\n    - devices: all\n      mig-enabled: true\n",
         "mig.yaml:4: mig-configs.a[0].mig-devices: required"),
        ("version: v1\nmig-configs:\n  a:\n    - devices: all\n      mig-enabled: false\n      mig-devices: {1g.5gb: 1}\n",
         "mig-devices: must be empty"),
        ("version: v1\nmig-configs:\n  a:\n    - devices: [0]\n      mig-enabled: true\n      mig-devices: {1g.5gb: 0}\n",
         "every count is 0"),
        ("version: v1\nmig-configs:\n  a:\n    - devices: some\n      mig-enabled: false\n", "mig.yaml:4: mig-configs.a[0].devices"),
        ("version: v1\nmig-configs:\n  a:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {1c.2g.10gb: 2}\n",
         "compute-instance sub-profiles"),
        ("version: v1\nmig-configs: [\n", "not valid YAML"),
    ],
)
def test_mig_parted_config_errors_name_file_line_and_field(text: str, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        parse_mig_parted_config(text, "mig.yaml")
    assert fragment in info.value.message
