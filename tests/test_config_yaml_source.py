"""The bounded, position-keeping YAML loader (migctl.config.yaml_source)."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from migctl.config.yaml_source import Limits, parse_yaml


def codes(stream):
    return [d.code for d in stream.diagnostics]


def test_values_and_positions_of_values_and_keys():
    stream = parse_yaml("a: 1\nb:\n  - x: yes\n    y: [1, 0x10]\n  - 'q'\n")
    assert stream.diagnostics == []
    doc = stream.documents[0]
    assert doc.value == {"a": 1, "b": [{"x": True, "y": [1, 16]}, "q"]}
    assert doc.positions["/a"] == (1, 4)
    assert doc.key_positions["/a"] == (1, 1)
    assert doc.positions["/b/0/x"] == (3, 8)
    assert doc.key_positions["/b/0/y"] == (4, 5)
    assert doc.positions["/b/0/y/1"] == (4, 12)
    assert doc.positions["/b/1"] == (5, 5)


def test_locate_falls_back_to_the_nearest_known_parent():
    doc = parse_yaml("a:\n  b: 1\n").documents[0]
    assert doc.locate("/a/b/c/d") == (2, 6)
    assert doc.locate("/a/b", at_key=True) == (2, 3)
    assert doc.locate("/zzz") == (1, 1)


def test_keys_with_slashes_and_tildes_are_escaped_as_json_pointers():
    doc = parse_yaml("data:\n  device-config.yaml: x\n  a/b~c: y\n").documents[0]
    assert doc.positions["/data/device-config.yaml"] == (2, 23)
    assert doc.positions["/data/a~1b~0c"] == (3, 10)


def test_multi_document_stream_keeps_every_document():
    stream = parse_yaml("a: 1\n---\nb: 2\n---\n")
    assert [d.value for d in stream.documents] == [{"a": 1}, {"b": 2}, None]
    assert [d.index for d in stream.documents] == [0, 1, 2]


def test_merge_keys_and_aliases_share_values():
    doc = parse_yaml("base: &b {q: 1, r: 2}\nd:\n  <<: *b\n  r: 3\ne: *b\n").documents[0]
    assert doc.value["d"] == {"q": 1, "r": 3}
    assert doc.value["e"] is doc.value["base"]


def test_syntax_error_has_its_line_and_keeps_earlier_documents():
    stream = parse_yaml("a: 1\n---\nb: [1, 2\nc: 3\n")
    assert codes(stream) == ["yaml-syntax"]
    assert stream.diagnostics[0].line in (3, 4)
    assert [d.value for d in stream.documents] == [{"a": 1}]


def test_duplicate_keys_are_errors_in_yaml_and_warnings_in_json():
    yaml_dup = parse_yaml("a: 1\nb: 2\na: 3\n")
    assert codes(yaml_dup) == ["duplicate-key"]
    assert yaml_dup.diagnostics[0].severity.value == "error"
    assert yaml_dup.diagnostics[0].line == 3
    json_dup = parse_yaml('{"a": 1, "a": 2}', json_mode=True)
    assert json_dup.diagnostics[0].severity.value == "warning"
    assert json_dup.documents[0].value == {"a": 2}


def test_alias_bomb_stops_fast_with_one_diagnostic():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    started = time.perf_counter()
    stream = parse_yaml("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 5
    assert codes(stream) == ["yaml-alias-bomb"]
    assert stream.documents == []


def test_recursive_and_undefined_aliases():
    assert codes(parse_yaml("a: &a [1, *a]\n")) == ["yaml-recursive-alias"]
    assert codes(parse_yaml("a: *nope\n")) == ["yaml-syntax"]


def test_deep_nesting_block_and_flow():
    block = "a:\n" + "".join("  " * i + "- \n" for i in range(1, 200))
    assert codes(parse_yaml(block)) == ["yaml-too-deep"]
    assert codes(parse_yaml("[" * 100_000)) == ["yaml-too-deep"]
    assert codes(parse_yaml("[" * 10 + "]" * 10)) == []


def test_node_budget_and_limits_are_configurable():
    stream = parse_yaml("- 1\n" * 50, limits=Limits(max_nodes=20))
    assert codes(stream) == ["input-too-large"]


def test_bad_scalars_and_control_characters():
    stream = parse_yaml("x: " + "9" * 5000 + "\n")
    assert codes(stream) == ["yaml-bad-scalar"]
    assert stream.documents[0].value["x"].startswith("999")
    assert codes(parse_yaml("x: \x01\n")) == ["yaml-syntax"]


def test_complex_keys_are_reported():
    assert codes(parse_yaml("? [a, b]\n: 1\n")) == ["yaml-complex-key"]


def test_timestamps_and_custom_tags_stay_text():
    doc = parse_yaml("t: 2024-01-01\nu: !custom 5\n").documents[0]
    assert doc.value == {"t": "2024-01-01", "u": "5"}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_never_raises_on_any_text(text):
    stream = parse_yaml(text)
    assert all(d.code for d in stream.diagnostics)
    assert len([d for d in stream.diagnostics if d.code not in ("duplicate-key", "yaml-bad-scalar", "yaml-complex-key")]) <= 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a:", " b", "- ", "&x ", "*x", "[", "]", "{", "}", ",", ":", "\n", "  ", "<<: ", "'q'", "1", "? "]),
                max_size=60))
def test_never_raises_on_yaml_like_token_soup(tokens):
    parse_yaml("".join(tokens))
