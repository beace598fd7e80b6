"""The geometry value: one frozen, hashable value per layout, one value for MIG off."""

from __future__ import annotations

import pickle

import pytest

from migctl.hardware.geometry import MIG_OFF, Geometry, format_geometry, parse_geometry


def test_parse_gives_canonical_counts_and_text() -> None:
    g = Geometry.parse("1g.5gb:1, 2g.10gb:2,1c.1g.5gb:0001,2g.10gb:1")
    assert str(g) == "2g.10gb:3,1g.5gb:2"
    assert dict(g) == {"2g.10gb": 3, "1g.5gb": 2}
    assert list(g) == ["2g.10gb", "1g.5gb"]
    assert g == {"1g.5gb": 2, "2g.10gb": 3}
    assert g == Geometry({"1g.5gb": 2, "2g.10gb": 3})
    assert hash(g) == hash(Geometry({"1g.5gb": 2, "2g.10gb": 3}))
    assert str(g) == format_geometry(parse_geometry(str(g)))
    assert g.instance_count() == 5


def test_empty_geometry_is_mig_on_without_instances() -> None:
    empty = Geometry.parse("")
    assert str(empty) == "" and empty.enabled and empty == {} and len(empty) == 0
    assert empty != MIG_OFF


def test_mig_off_is_one_value() -> None:
    assert Geometry.parse("disabled") is MIG_OFF
    assert Geometry.parse(" Disabled ") is MIG_OFF
    assert Geometry.disabled() is MIG_OFF
    assert Geometry.of(None) is MIG_OFF
    assert str(MIG_OFF) == "disabled" and not MIG_OFF.enabled and MIG_OFF.is_disabled
    assert MIG_OFF != {} and MIG_OFF == Geometry(enabled=False)
    assert pickle.loads(pickle.dumps(MIG_OFF)) is MIG_OFF
    with pytest.raises(ValueError):
        Geometry({"1g.5gb": 1}, enabled=False)


@pytest.mark.parametrize("text", ["off", "none", "disable", "1g.5gb:١", "1g.5gb:²", "1g.5gb:0", "1g.5gb", "1g.5gb:-1", ":1"])
def test_parse_is_strict(text: str) -> None:
    with pytest.raises(ValueError):
        Geometry.parse(text)


def test_value_is_frozen_and_usable_as_key() -> None:
    g = Geometry.parse("1g.5gb:7")
    with pytest.raises(AttributeError):
        g._counts = ()  # type: ignore[misc]
    assert {g: 1}[Geometry({"1g.5gb": 7})] == 1
    assert pickle.loads(pickle.dumps(g)) == g
    assert Geometry.of("1g.5gb:7") == g and Geometry.of({"1g.5gb": 7}) == g and Geometry.of(g) is g


def test_canonical_resolves_model_aliases() -> None:
    from migctl.hardware.catalogue import load_catalogue

    model = load_catalogue().lookup("NVIDIA A100-SXM4-40GB").model
    g = Geometry.parse("3g.20gb:1,1g.5gb:2")
    assert g.canonical(model) is g
    assert g.format(model) == "3g.20gb:1,1g.5gb:2"
    assert MIG_OFF.canonical(model) is MIG_OFF and MIG_OFF.format(model) == "disabled"


def test_equals_its_canonical_text_only() -> None:
    g = Geometry.parse("1g.5gb:1,2g.10gb:3")
    assert g == "2g.10gb:3,1g.5gb:1" and hash(g) == hash("2g.10gb:3,1g.5gb:1")
    assert g != "1g.5gb:1,2g.10gb:3"
    assert MIG_OFF == "disabled" and Geometry.parse("") == ""
