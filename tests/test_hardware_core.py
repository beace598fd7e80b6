"""The hardware catalogue, profile-name grammar, canonical geometry text and the solver."""

from __future__ import annotations

import pytest
import yaml

from migctl.hardware.catalogue import build_catalogue, load_catalogue
from migctl.hardware.geometry import format_geometry, parse_geometry
from migctl.hardware.profile_name import canonical_profile_name, parse_profile_name
from migctl.hardware.placement import PlacedInstance
from migctl.hardware.solver import maximal_geometries, solve

from conftest import REFERENCE


@pytest.fixture(scope="module")
def cat():
    return load_catalogue()


def _reference_models_yaml() -> str:
    """The reference mig-profiles.yaml; the shipped copy where ../shared is not beside this checkout
    (test_package_data_is_an_exact_copy_of_the_reference checks they are the same file)."""
    from importlib.resources import files

    path = REFERENCE / "mig-profiles.yaml"
    if path.exists():
        return path.read_text()
    return (files("migctl.hardware") / "data" / "mig-profiles.yaml").read_text()


def _check(model, text, existing=()):
    return solve(model, parse_geometry(text), existing=existing)


# --- catalogue -------------------------------------------------------------------------------


def test_catalogue_ships_every_reference_model_and_profile(cat):
    reference = yaml.safe_load(_reference_models_yaml())
    assert cat.keys == tuple(m["key"] for m in reference["models"])
    assert len(cat) == 16
    for ref in reference["models"]:
        model = cat.model(ref["key"])
        assert model.nvml_names == tuple(ref["nvml_names"])
        assert model.compute_slices == ref["compute_slices"]
        assert model.confidence == ref["confidence"]
        assert model.placement_status == ref["placement_status"]
        assert [p.name for p in model.profiles] == [p["name"] for p in ref["profiles"]]
        for profile, row in zip(model.profiles, ref["profiles"]):
            assert profile.nvml_profile == row["nvml_profile"]
            assert profile.nvml_profile_value == row["nvml_profile_value"]
            assert profile.board_profile_id == row["nvidia_smi_id"]
            assert profile.placement_starts == tuple(row["placement_starts"])
            assert profile.placement_size == row["placement_size"]
            assert profile.max_instances == row["max_instances"]
            assert profile.memory_mib == row["memory_mib"]
            assert profile.decoders == row["decoders"]
            assert profile.min_driver == row["min_driver"]
            assert profile.status == row["status"]


@pytest.mark.skipif(not (REFERENCE / "mig-profiles.yaml").exists(),
                    reason="the reference data (../shared/reference) is not beside this checkout")
def test_package_data_is_an_exact_copy_of_the_reference():
    from importlib.resources import files

    shipped = (files("migctl.hardware") / "data" / "mig-profiles.yaml").read_bytes()
    assert shipped == (REFERENCE / "mig-profiles.yaml").read_bytes()


def test_grids_are_nvml_units_not_assumed_eight(cat):
    assert cat.model("a30-24gb").placement_units == 4
    rtx = cat.model("rtx-pro-6000-blackwell")
    assert rtx.placement_units == 12
    assert rtx.profile("1g.24gb").placements == ((0, 3), (3, 3), (6, 3), (9, 3))
    assert rtx.profile("4g.96gb").placements == ((0, 12),)
    # Unknown grid (RTX PRO 5000): loads, derived from the starts, flagged as not known.
    pro5000 = cat.model("rtx-pro-5000-blackwell")
    assert pro5000.placement_units == 2 and not pro5000.placement_units_known
    assert pro5000.confidence.startswith("low")


def test_board_profile_ids_differ_per_family(cat):
    assert cat.model("a100-40gb").profile("1g.5gb").board_profile_id == 19
    assert cat.model("a30-24gb").profile("1g.6gb").board_profile_id == 14
    assert cat.model("rtx-pro-6000-blackwell").profile("1g.24gb+me.all").board_profile_id == 65
    assert cat.model("rtx-pro-5000-blackwell").profile("1g.24gb").board_profile_id is None


@pytest.mark.parametrize(
    ("text", "key", "rule"),
    [
        ("NVIDIA A100-PCIE-40GB", "a100-40gb", "nvml-name"),
        ("nvidia a100-sxm4-80gb", "a100-80gb", "nvml-name"),
        ("NVIDIA-NVIDIA A100-PCIE-40GB", "a100-40gb", "nvml-name"),  # HAMi <= v2.7 device type
        ("A100-SXM4-40GB", "a100-40gb", "nvml-name"),  # also the R450 NVML name
        ("A100-40GB-PCIe", "a100-40gb", "hami-model"),
        ("A100-80GB-PCIe", "a100-80gb", "hami-model"),
        ("H100-SXM5-80GB", "h100-80gb", "hami-model"),
        ("H100 on GH200", "gh200-96gb", "hami-model"),
        ("H200 NVL", "h200-141gb", "nvml-name"),
        ("H200-SXM5", "h200-141gb", "hami-model"),
        ("RTX PRO 6000 Blackwell Server Edition", "rtx-pro-6000-blackwell", "nvml-name"),
        ("a30-24gb", "a30-24gb", "key"),
        ("NVIDIA H200", "h200-141gb", "nvml-name"),
        ("NVIDIA A30", "a30-24gb", "nvml-name"),
        ("Tesla A100-PCIE-40GB rev2", "a100-40gb", "hami-substring"),
    ],
)
def test_model_lookup(cat, text, key, rule):
    match = cat.lookup(text)
    assert match is not None
    assert (match.model.key, match.rule) == (key, rule)


def test_lookup_unknown_model(cat):
    assert cat.lookup("NVIDIA GeForce RTX 4090") is None
    assert cat.lookup("") is None
    with pytest.raises(KeyError):
        cat.model("a100")


def test_hami_substring_rule_reproduces_the_h20_h200_pitfall(cat):
    # hami.md §1.4: "H20" comes first in HAMi's chart and is a substring of "NVIDIA H200 NVL".
    match = cat.hami_match("NVIDIA H200 NVL")
    assert match.model.key == "h20-96gb" and match.matched == "H20"
    # migctl's own lookup prefers the exact NVML name.
    assert cat.lookup("NVIDIA H200 NVL").model.key == "h200-141gb"
    assert cat.hami_match("NVIDIA A100-SXM4-40GB").matched == "A100-SXM4-40GB"
    assert cat.hami_match("NVIDIA GeForce RTX 4090") is None


def test_hami_model_strings_per_model(cat):
    assert cat.model("a100-40gb").hami_models == ("A100-SXM4-40GB", "A100-40GB-PCIe", "A100-PCIE-40GB")
    assert cat.model("h20-96gb").hami_models == ("H20",)
    assert cat.model("b300-288gb").hami_models == ()


def test_aliases_and_profile_resolution(cat):
    a100_80 = cat.model("a100-80gb")
    for alias in ("7g.79gb", "7g.80gb"):
        assert a100_80.profile(alias).name == "7g.80gb"
    assert a100_80.profile("3g.39gb").name == "3g.40gb"
    assert cat.model("a100-40gb").profile("3g.21gb").name == "3g.20gb"
    assert cat.model("gb200-186gb").profile("7g.189gb").name == "7g.186gb"
    assert cat.model("gb200-186gb").profile("1g.24gb+me").name == "1g.23gb+me"

    exact = a100_80.resolve_profile("2g.20gb")
    assert (exact.how, exact.profile.name, exact.warning) == ("exact", "2g.20gb", None)
    alias = a100_80.resolve_profile("7g.79gb")
    assert (alias.how, alias.profile.name) == ("alias", "7g.80gb")
    nearest = cat.model("a100-40gb").resolve_profile("2g.12gb")
    assert (nearest.how, nearest.profile.name) == ("nearest", "2g.10gb")
    assert "2g.12gb" in nearest.warning and "2g.10gb" in nearest.warning
    # Nearest keeps the attribute suffix: +me only matches +me profiles.
    assert cat.model("a100-40gb").resolve_profile("1g.6gb+me").profile.name == "1g.5gb+me"
    missing = cat.model("a100-40gb").resolve_profile("1g.5gb+gfx")
    assert missing.profile is None and missing.how is None and "+gfx" in missing.warning
    bad = cat.model("a100-40gb").resolve_profile("five gigs")
    assert bad.profile is None and "invalid MIG profile name" in bad.warning


def test_names_collide_across_models(cat):
    # mig-profiles.md: 1g.10gb is the 2-slot REV2 profile on A100-40GB, the base profile on H100.
    assert cat.model("a100-40gb").profile("1g.10gb").placement_size == 2
    assert cat.model("h100-80gb").profile("1g.10gb").placement_size == 1


def test_profile_attributes(cat):
    rtx = cat.model("rtx-pro-6000-blackwell")
    assert [rtx.profile(n).attribute for n in ("1g.24gb", "1g.24gb+me", "1g.24gb+me.all", "1g.24gb-me", "1g.24gb+gfx")] == [
        "",
        "+me",
        "+me.all",
        "-me",
        "+gfx",
    ]


# --- profile names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1g.5gb", "1g.5gb"),
        ("1c.1g.5gb", "1g.5gb"),
        ("2c.7g.80gb", "2c.7g.80gb"),
        ("1g.5gb+me", "1g.5gb+me"),
        ("1g.24gb+me.all", "1g.24gb+me.all"),
        ("1g.24gb-me", "1g.24gb-me"),
        ("1g.5gb+me,gfx", "1g.5gb+gfx,me"),
        ("0g.0gb", "0g.0gb"),
    ],
)
def test_profile_name_grammar(text, canonical):
    assert canonical_profile_name(text) == canonical


@pytest.mark.parametrize(
    "text",
    ["", "1g", "g.5gb", "1g.5", "1g.5gb+", "1g.5gb+me,", "1g.5gb+me-gfx", "1g.5gb +me", "1G.5GB", "1g.5gb+me,me", "1g.5gb+me."],
)
def test_profile_name_errors(text):
    with pytest.raises(ValueError, match="invalid MIG profile name"):
        parse_profile_name(text)


def test_profile_name_lenient_spellings():
    assert str(parse_profile_name("nvidia.com/mig-1g.5gb.me", lenient=True)) == "1g.5gb+me"
    assert str(parse_profile_name("mig-1g.24gb.me.all", lenient=True)) == "1g.24gb+me.all"
    assert str(parse_profile_name(" 1G.5GB ", lenient=True)) == "1g.5gb"
    assert parse_profile_name("1g.24gb-me").negative


# --- geometry text ---------------------------------------------------------------------------


def test_parse_and_format_geometry():
    assert parse_geometry("2g.10gb:3,1g.5gb:1") == {"2g.10gb": 3, "1g.5gb": 1}
    assert parse_geometry("") == {}
    assert parse_geometry(" 1g.5gb:1 , 2g.10gb:3 ") == {"2g.10gb": 3, "1g.5gb": 1}
    assert list(parse_geometry("1g.5gb:1,2g.10gb:3")) == ["2g.10gb", "1g.5gb"]
    assert parse_geometry("1c.1g.5gb:1,1g.5gb:2") == {"1g.5gb": 3}
    assert parse_geometry("1g.5gb+me,gfx:1,1g.5gb:1") == {"1g.5gb+gfx,me": 1, "1g.5gb": 1}
    assert format_geometry({"1g.5gb": 1, "2g.10gb": 3}) == "2g.10gb:3,1g.5gb:1"
    assert format_geometry({}) == ""
    assert format_geometry({"1g.5gb": 0}) == ""
    assert format_geometry({"1g.5gb": 2, "1g.10gb": 1, "7g.40gb": 1, "3g.20gb": 1}) == "7g.40gb:1,3g.20gb:1,1g.10gb:1,1g.5gb:2"


def test_format_geometry_orders_by_model_memory(cat):
    model = cat.model("a100-80gb")
    # With a model, alias names sort by the real profile (7g.79gb is the 7g.80gb profile).
    assert format_geometry({"1g.10gb": 1, "7g.79gb": 1, "1g.20gb": 2}, model) == "7g.79gb:1,1g.20gb:2,1g.10gb:1"


@pytest.mark.parametrize(
    "text",
    ["1g.5gb", "1g.5gb:x", "1g.5gb:0", "1g.5gb:-1", ":1", "1g.5gb:1,,2g.10gb:1", "2gb.10g:1", "1g.5gb:1.5"],
)
def test_parse_geometry_errors(text):
    with pytest.raises(ValueError, match="invalid geometry"):
        parse_geometry(text)


def test_geometry_roundtrip(cat):
    for model in cat:
        for geometry in maximal_geometries(model):
            assert parse_geometry(format_geometry(geometry)) == dict(geometry)


# --- solver ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("geometry", "feasible"),
    [
        ("3g.20gb:2,1g.5gb:1", False),
        ("4g.20gb:1,3g.20gb:1", True),
        ("1g.5gb:7", True),
        ("1g.5gb:8", False),
        ("2g.10gb:3,1g.5gb:1", True),
        ("2g.10gb:3,1g.10gb:1", True),
        ("3g.20gb:1,2g.10gb:1,1g.5gb:2", True),
        ("4g.20gb:1,2g.10gb:1,1g.5gb:1", True),
        ("1g.5gb:7,1g.10gb:1", False),
        ("1g.10gb:4,1g.5gb:1", False),
        ("1g.5gb+me:2", False),
        ("1g.5gb+me:1,1g.5gb:6", True),
        ("7g.40gb:1,1g.5gb:1", False),
        ("7g.40gb:1", True),
        ("", True),
    ],
)
def test_a100_40gb_worked_examples(cat, geometry, feasible):
    # mig-profiles.md "Worked examples (A100-40GB)".
    solution = _check(cat.model("a100-40gb"), geometry)
    assert solution.feasible is feasible, solution.reason
    if feasible:
        assert solution.reason is None and solution.unplaced is None
        assert sum(parse_geometry(geometry).values()) == len(solution.placements)
    else:
        assert solution.placements == () and solution.reason and solution.unplaced


def test_feasible_placements_are_concrete_and_deterministic(cat):
    model = cat.model("a100-40gb")
    first = _check(model, "1g.5gb:2,2g.10gb:1,3g.20gb:1")
    assert [str(p) for p in first.placements] == ["3g.20gb@4:4", "2g.10gb@0:2", "1g.5gb@2:1", "1g.5gb@3:1"]
    assert _check(model, "3g.20gb:1,1g.5gb:2,2g.10gb:1") == first
    assert [str(p) for p in _check(model, "2g.10gb:3,1g.5gb:1").placements] == [
        "2g.10gb@0:2",
        "2g.10gb@2:2",
        "2g.10gb@4:2",
        "1g.5gb@6:1",
    ]


def test_infeasible_reason_names_the_instance(cat):
    model = cat.model("a100-40gb")
    solution = _check(model, "3g.20gb:2,1g.5gb:1")
    assert solution.unplaced == "1g.5gb"
    assert "no room for 1g.5gb" in solution.reason and "3g.20gb@0:4" in solution.reason and "3g.20gb@4:4" in solution.reason
    too_many = _check(model, "1g.5gb+me:2")
    assert too_many.unplaced == "1g.5gb+me" and "at most 1" in too_many.reason
    unknown = _check(model, "1g.24gb:1")
    assert unknown.unplaced == "1g.24gb" and "no profile" in unknown.reason


def test_aliases_are_accepted_and_canonicalised(cat):
    solution = _check(cat.model("a100-80gb"), "7g.79gb:1")
    assert solution.feasible and solution.placements == (PlacedInstance("7g.80gb", 0, 8),)


def test_a30_four_unit_grid(cat):
    a30 = cat.model("a30-24gb")
    assert _check(a30, "1g.6gb:4").feasible
    assert not _check(a30, "1g.6gb:5").feasible
    assert _check(a30, "2g.12gb:1,1g.6gb:2").feasible
    assert _check(a30, "2g.12gb:2").feasible
    assert not _check(a30, "2g.12gb:2,1g.6gb:1").feasible
    assert not _check(a30, "4g.24gb:1,1g.6gb:1").feasible
    assert _check(a30, "2g.12gb+me:1,2g.12gb:1").feasible
    assert not _check(a30, "2g.12gb+me:2").feasible
    # One OFA/NVJPG on the A30 (NVIDIA's DRA engine budget): the two +me profiles exclude each other.
    both = _check(a30, "2g.12gb+me:1,1g.6gb+me:1")
    assert not both.feasible and "NVJPG" in both.reason and both.unplaced == "1g.6gb+me"
    assert [str(p) for p in _check(a30, "2g.12gb:1,1g.6gb:2").placements] == ["2g.12gb@0:2", "1g.6gb@2:1", "1g.6gb@3:1"]


def test_rtx_pro_6000_twelve_unit_grid(cat):
    rtx = cat.model("rtx-pro-6000-blackwell")
    four = _check(rtx, "1g.24gb:4")
    assert [str(p) for p in four.placements] == ["1g.24gb@0:3", "1g.24gb@3:3", "1g.24gb@6:3", "1g.24gb@9:3"]
    mixed = _check(rtx, "2g.48gb:1,1g.24gb:2")
    assert [str(p) for p in mixed.placements] == ["2g.48gb@0:6", "1g.24gb@6:3", "1g.24gb@9:3"]
    assert not _check(rtx, "2g.48gb:2,1g.24gb:1").feasible
    assert not _check(rtx, "4g.96gb:1,1g.24gb:1").feasible
    assert _check(rtx, "1g.24gb+gfx:2,2g.48gb-me:1").feasible


def test_me_all_exclusivity(cat):
    rtx = cat.model("rtx-pro-6000-blackwell")
    assert _check(rtx, "1g.24gb+me.all:1,1g.24gb-me:3").feasible
    assert _check(rtx, "2g.48gb+me.all:1,2g.48gb-me:1").feasible
    blocked = _check(rtx, "1g.24gb+me.all:1,1g.24gb:1")
    assert not blocked.feasible and "-me" in blocked.reason and blocked.unplaced == "1g.24gb"
    assert not _check(rtx, "1g.24gb+me.all:1,2g.48gb+me.all:1").feasible
    # An existing +me.all instance blocks new non -me instances.
    existing = [PlacedInstance("1g.24gb+me.all", 0, 3)]
    assert not solve(rtx, {"1g.24gb+gfx": 1}, existing=existing).feasible
    assert solve(rtx, {"1g.24gb-me": 3}, existing=existing).feasible


def test_existing_instances_are_respected(cat):
    model = cat.model("a100-40gb")
    # Fragmentation (mig-profiles.md rule 8): 1g at 0, 1 and 5 block every 3g/4g/7g.
    frag = [PlacedInstance("1g.5gb", 0, 1), PlacedInstance("1g.5gb", 1, 1), PlacedInstance("1g.5gb", 5, 1)]
    blocked = solve(model, {"3g.20gb": 1}, existing=frag)
    assert not blocked.feasible and blocked.unplaced == "3g.20gb" and "1g.5gb@5:1" in blocked.reason
    assert not solve(model, {"4g.20gb": 1}, existing=frag).feasible
    two = solve(model, {"2g.10gb": 1}, existing=frag)
    assert two.placements == (PlacedInstance("2g.10gb", 2, 2),)
    assert two.existing == tuple(frag)
    # Existing instances count toward per-profile maximums.
    seven = [PlacedInstance("1g.5gb", s, 1) for s in range(6)]
    assert solve(model, {"1g.5gb": 1}, existing=seven).placements == (PlacedInstance("1g.5gb", 6, 1),)
    assert not solve(model, {"1g.5gb+me": 1}, existing=[PlacedInstance("1g.5gb+me", 6, 1)]).feasible
    # A new instance never lands on an existing one.
    solution = solve(model, {"3g.20gb": 1}, existing=[PlacedInstance("3g.20gb", 0, 4)])
    assert solution.placements == (PlacedInstance("3g.20gb", 4, 4),)
    assert [str(p) for p in solution.layout] == ["3g.20gb@0:4", "3g.20gb@4:4"]


def test_existing_instances_that_are_impossible(cat):
    model = cat.model("a100-40gb")
    overlap = solve(model, {}, existing=[PlacedInstance("3g.20gb", 0, 4), PlacedInstance("2g.10gb", 2, 2)])
    assert not overlap.feasible and "overlap" in overlap.reason
    outside = solve(model, {}, existing=[PlacedInstance("1g.5gb", 8, 1)])
    assert not outside.feasible and "outside" in outside.reason
    unknown = solve(model, {}, existing=[PlacedInstance("1g.24gb", 0, 1)])
    assert not unknown.feasible and "1g.24gb" in unknown.reason
    odd = solve(model, {"1g.5gb": 1}, existing=[PlacedInstance("1g.5gb", 7, 1)])
    assert odd.feasible and odd.warnings and "not one of the catalogue's placements" in odd.warnings[0]


def test_feasible_solutions_carry_driver_caveats(cat):
    model = cat.model("a100-40gb")
    assert any("R510" in w for w in _check(model, "4g.20gb:1,3g.20gb:1").warnings)
    assert _check(model, "1g.10gb:1").warnings == ("1g.10gb needs driver R525 or later",)
    mixed = _check(model, "1g.5gb+me:1,1g.5gb:6")
    assert any("not confirmed" in w for w in mixed.warnings)
    assert _check(model, "2g.10gb:3,1g.5gb:1").warnings == ()
    unknown_grid = _check(cat.model("rtx-pro-5000-blackwell"), "1g.24gb:2")
    assert unknown_grid.feasible and "normalised slots" in unknown_grid.warnings[0]


def test_solution_to_dict(cat):
    data = _check(cat.model("a100-40gb"), "7g.40gb:1").to_dict()
    assert data == {
        "feasible": True,
        "placements": [{"profile": "7g.40gb", "start": 0, "size": 8}],
        "existing": [],
        "reason": None,
        "unplaced": None,
        "warnings": [],
    }


def test_maximal_geometries_a100_40gb(cat):
    model = cat.model("a100-40gb")
    geometries = [format_geometry(g) for g in maximal_geometries(model)]
    assert geometries[0] == "7g.40gb:1"
    for expected in ("4g.20gb:1,3g.20gb:1", "3g.20gb:2", "2g.10gb:3,1g.5gb:1", "2g.10gb:3,1g.10gb:1", "1g.5gb:7", "1g.10gb:4"):
        assert expected in geometries
    assert "3g.20gb:1" not in geometries  # 3g.20gb:2 contains it
    assert len(geometries) == len(set(geometries))


def test_maximal_geometries_are_feasible_and_maximal(cat):
    for model in cat:
        geometries = maximal_geometries(model)
        assert geometries, model.key
        for geometry in geometries:
            assert solve(model, geometry).feasible, (model.key, geometry)
            for profile in model.profiles:
                grown = dict(geometry)
                grown[profile.name] = grown.get(profile.name, 0) + 1
                assert not solve(model, grown).feasible, (model.key, geometry, profile.name)


def test_build_catalogue_without_extras():
    reference = yaml.safe_load(_reference_models_yaml())
    cat = build_catalogue(reference)
    assert len(cat) == 16 and cat.model("a100-80gb").profile("7g.79gb") is None


def test_parsed_json_cache_is_fresh_and_equal_to_the_yaml():
    from importlib.resources import files

    from migctl.hardware.package_data import read_documents, render_cache

    data = files("migctl.hardware") / "data"
    assert (data / "catalogue.json").read_text(encoding="utf-8") == render_cache(), (
        "migctl/hardware/data/catalogue.json is stale; run: python -m migctl.hardware.package_data"
    )
    profiles, extras = read_documents()
    assert profiles == yaml.safe_load((data / "mig-profiles.yaml").read_text(encoding="utf-8"))
    assert extras == yaml.safe_load((data / "catalogue-extras.yaml").read_text(encoding="utf-8"))


def test_stale_cache_is_never_used(monkeypatch, tmp_path):
    import shutil
    from importlib.resources import files

    from migctl.hardware import package_data

    for name in ("mig-profiles.yaml", "catalogue-extras.yaml", "catalogue.json"):
        shutil.copy(str(files("migctl.hardware") / "data" / name), tmp_path / name)
    edited = (tmp_path / "catalogue-extras.yaml").read_text().replace("7g.80gb: [7g.79gb]", "7g.80gb: [7g.79gb, 7g.81gb]")
    (tmp_path / "catalogue-extras.yaml").write_text(edited)
    monkeypatch.setattr(package_data, "_data", lambda: tmp_path)
    profiles, extras = package_data.read_documents()
    assert extras["models"]["a100-80gb"]["aliases"]["7g.80gb"] == ["7g.79gb", "7g.81gb"]
    (tmp_path / "catalogue.json").write_text("not json")
    assert package_data.read_documents()[0]["models"][0]["key"] == "a100-40gb"


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ATTRS = st.lists(st.from_regex(r"[a-z][a-z0-9]{0,3}(\.[a-z0-9]{1,3})?", fullmatch=True), min_size=0, max_size=3, unique=True)


@given(
    g=st.integers(0, 99),
    c=st.one_of(st.none(), st.integers(0, 99)),
    gb=st.integers(0, 999),
    attrs=_ATTRS,
    negative=st.booleans(),
)
def test_profile_name_roundtrip(g, c, gb, attrs, negative):
    text = (f"{c}c." if c is not None else "") + f"{g}g.{gb}gb"
    if attrs:
        text += ("-" if negative else "+") + ",".join(attrs)
    parsed = parse_profile_name(text)
    assert (parsed.gpu_slices, parsed.memory_gb, parsed.compute) == (g, gb, g if c is None else c)
    assert parsed.attributes == tuple(sorted(attrs))
    assert parse_profile_name(str(parsed)) == parsed
    assert str(parsed) == canonical_profile_name(str(parsed))
    # A geometry of it survives the text form.
    assert parse_geometry(format_geometry({str(parsed): 2})) == {str(parsed): 2}
