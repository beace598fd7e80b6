"""kubectl YAML items as JSON through per-shape templates (``migctl.yamlio.item_json``) against the line parser.

The property every test here checks: whatever the text, :meth:`ItemTemplates.read_block` answers None or the
JSON of exactly what the line parser (``block_yaml.parse_items``) builds for each item, never a template
filled with values it does not fit; with ``kube_json.item_builder``, the typed struct msgspec decodes from
that JSON; and ``load_snapshot`` on a YAML snapshot builds the same cluster, or raises the same error,
whether its repeating items take the templates and typed structs (built, or decoded from JSON) or not.
"""

from __future__ import annotations

import io
import itertools
import json
import random
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migctl.cluster import kube_json, snapshot
from migctl.cluster.snapshot import dump_snapshot, load_snapshot
from migctl.errors import InputError
from migctl.yamlio import kube_list
from migctl.yamlio.block_yaml import NotKubectlYaml, parse_items, usual
from migctl.yamlio.item_json import _SLOTS, ItemTemplates

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from gen_cluster import generate  # noqa: E402
from yaml_mutation import mutate, mutated_snapshot  # noqa: E402


def line_parsed(text: str) -> Any:
    """The line parser's value for one item, or NotKubectlYaml's class when it refuses the text."""
    try:
        values = parse_items(text)
    except NotKubectlYaml:
        return NotKubectlYaml
    assert len(values) == 1
    return values[0]


#: Both ways a shape's items are read: as JSON, and built straight into typed structs.
BUILDERS = [None, kube_json.item_builder]


def check(templates: ItemTemplates, text: str) -> bool:
    """Each item of ``text`` that ``read_block`` converts is the line parser's value of its own text (as
    JSON, or as the typed struct msgspec decodes from that value's JSON); True when it converted all of
    them (the text is one item, or several)."""
    if not usual(text):  # the reader converts only blocks that pass this check
        return False
    starts, docs = templates.read_block(text)
    assert starts[0] == 0 and starts == sorted(set(starts))
    for start, stop, doc in zip(starts, [*starts[1:], len(text)], docs):
        if doc is not None:
            item = text[start:stop]
            value = line_parsed(item)
            assert value is not NotKubectlYaml, f"a template converted text the line parser refuses:\n{item}"
            if doc.__class__ is str:
                assert json.loads(doc) == value, item
            else:  # built: msgspec's struct of the line parser's value (it must not refuse that value)
                assert repr(doc) == repr(kube_json._ITEM.decode(json.dumps(value))), item
    return None not in docs


def item_texts(objects: list[dict[str, Any]]) -> list[str]:
    """Each object as kubectl's YAML prints a List item (``- `` at column 0, two-column indentation)."""
    buf = io.StringIO()
    dump_snapshot(objects, buf)
    lines = buf.getvalue().split("\n")
    body = lines[lines.index("items:") + 1 :]
    body = body[: next((k for k, x in enumerate(body) if x[:1] not in ("-", " ")), len(body))]
    starts = [k for k, line in enumerate(body) if line.startswith("- ")] + [len(body)]
    texts = ["\n".join(body[a:b]) + "\n" for a, b in zip(starts, starts[1:])]
    assert len(texts) == len(objects)
    return texts


# --- what a value slot is ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "slot"), [
    ("a: x y", "x y"), ("a: '12'", "12"), ('a: "q"', "q"), ("a: 007", "007"), ("a: nulls", "nulls"),
    ("a: b:c d", "b:c d"), ("a: x#y", "x#y"), ("a: ''", ""), ("a: 1.5", "1.5"), ("a: 0x1F", "0x1F"),
    ("a: é 中", "é 中"), ("a: x: y", "y"),  # the second ': ': the line parser refuses that line's shape
    ("a: '[{\"id\":1}]'", '[{"id":1}]'), ("a: 'e\\s'", "e\\s"), ('a: "it\'s"', "it's"), ("a: x'y\"z", "x'y\"z"),
])
def test_text_values_are_slots(line, slot):
    assert _SLOTS.split(line)[3] == slot


@pytest.mark.parametrize("line", [
    "a: true", "a: True", "a: FALSE", "a: null", "a: Null", "a: ~", "a: 12", "a: -7", "a: 0",  # other types
    "a: -x", "a: {}", "a: []", "a: |", "a: >", "a: &x", "a: *x", "a: !t", "a: %x", "a: @x", "a: `x", "a: ?x",
    "a: x #c", "a: x:", "a: x ", "a:  x", "a: 'x", "a: 'it''s'", "a: \"e\\\\s\"", "a: 'x' ",
    "a: \"x", "a: 'x\"", "a: \"x'", "a:", "a: ",
])
def test_other_values_stay_in_the_shape(line):
    assert _SLOTS.split(line) == [line]


#: The text plain scalar as first written: a loop over one-character tokens (the module unrolls it).
_REFERENCE_PLAIN = (r"(?!(?:0|[1-9][0-9]*|true|True|TRUE|false|False|FALSE|null|Null|NULL)$)"
                    r"[^\n'\"\\:\- ?,\[\]{}#&*!|>%@`~](?:[^\n: ]++|:(?=[^ \n])| (?=[^ #\n]))*+")


@settings(max_examples=2000, deadline=None)
@given(st.text(st.sampled_from("ab1 :#\n\"\\-'~tnu"), max_size=12))
def test_unrolled_text_plain_matches_what_the_token_loop_matches(text):
    from migctl.yamlio import item_json

    for pattern, reference in [(item_json._TEXT_PLAIN, _REFERENCE_PLAIN),
                               (item_json._TEXT_PLAIN_PURE, _REFERENCE_PLAIN.replace(r"[^\n: ]++", r"[^\n: \"\\]++"))]:
        for start in range(len(text) + 1):
            new, old = re.compile(pattern, re.M).match(text, start), re.compile(reference, re.M).match(text, start)
            assert (new and new.end()) == (old and old.end()), (text, start)


# --- items against the line parser ------------------------------------------------------------------------------


@pytest.mark.parametrize("generation", ["v2.9", "v2.10"])
@pytest.mark.parametrize("realistic", [False, True])
@pytest.mark.parametrize("builder", BUILDERS)
def test_generated_items_convert_to_the_line_parsers_value(generation, realistic, builder):
    objects = list(generate(6, 4, 60, generation=generation, realistic=realistic, seed=3))
    templates = ItemTemplates(builder)
    converted = [check(templates, text) for text in item_texts(objects)]
    kinds = [obj["kind"] for obj in objects]
    pods = [done for done, kind in zip(converted, kinds) if kind == "Pod"]
    # the first pod of each shape is read by the line parser; the others repeat a template
    assert sum(pods) >= len(pods) - 6, converted
    if builder is not None:  # once a shape has its own pattern, its items are built, not decoded from JSON
        built = [read for text in item_texts(objects) for read in templates.read_block(text)[1]]
        assert sum(isinstance(read, kube_json.Item) for read in built) >= len(objects) - 6


@pytest.mark.parametrize("builder", BUILDERS)
def test_same_shape_other_values(builder):
    templates = ItemTemplates(builder)
    base = "- kind: Pod\n  metadata:\n    name: {v}\n    labels:\n      app: {v}\n  spec:\n    nodeName: {v}\n"
    values = ["p1", "'on'", '"2026-11-28T09:00:00Z"', "x y", "a:b", "'a: b'", "é", "''", "zz%sq", "x%", "a%%b",
              "'[{\"id\":\"GPU-1\"}]'", "x'y\"z", "'back\\slash'", "a\\b"]
    results = [check(templates, base.format(v=v)) for v in values]
    assert results == [False] + [True] * (len(values) - 1)
    # a shape's pattern made from an item with quotes and backslashes to escape, then items without
    templates = ItemTemplates(builder)
    ordered = ["'[{\"a\":\"b\\\\c\"}]'"] * 3 + values
    assert [check(templates, base.format(v=v)) for v in ordered] == [False] + [True] * (len(ordered) - 1)
    # values that are not text scalars give the item another shape: never the text template
    for other in ["true", "12", "%", "{}", "'it''s'", "x #c", "|\n        text", "&a x", "'open\n        more'"]:
        text = base.format(v=other)
        check(templates, text)
        check(templates, text)


@pytest.mark.parametrize("text", [
    # a later ': ' inside a quoted scalar that goes on to the next line
    "- kind: Pod\n  metadata:\n    name: 'abc: foo\n      bar'\n",
    # 'key: value' text inside a literal block scalar
    "- kind: Pod\n  data:\n    x: |\n      k: v\n      k2: v2\n",
    # keys that JSON would turn into text
    "- kind: Pod\n  data:\n    1: a\n    true: b\n",
    "- kind: Pod\n  data:\n    null: a\n",
    # the placeholder character in the item's own text
    "- kind: Pod\n  data:\n    \ue0000: a\n",
    "- kind: Pod\n  data:\n    - \ue0001\n    - a\n",
    # a second column-0 line that is not an item start
    "- kind: Pod\n  a: b\n-x: c\n",
    # odd indentation, a nested sequence, a merge key
    "- kind: Pod\n  a: b\n   c: d\n", "- - kind: Pod\n  a: b\n", "- kind: Pod\n  <<: b\n",
])
@pytest.mark.parametrize("builder", BUILDERS)
def test_shapes_the_line_parser_reads_otherwise_are_refused_or_exact(text, builder):
    templates = ItemTemplates(builder)
    for _ in range(3):
        check(templates, text)
    assert templates.read_block(text)[1] == [None] or line_parsed(text) is not NotKubectlYaml


@pytest.mark.parametrize("value", [
    "'[{\"id\":\"GPU-1\",\"type\":\"NVIDIA\n        A100\"}, x]'",    # kubectl's folding of a long string
    "'a\n        b\n\n        c\n\n\n        d'",                     # blank lines keep line breaks
    "'a   \n        b'", "'a\n           b  '", '"double\n        quoted"',
    "'at the key\n      column'", "'left\n    of it'", "'column 0\nx'",  # the line parser refuses these
    "'ends\n        '", "'\n        starts'", "'a: b\n        c: d'", "'a\n        - b'",
])
@pytest.mark.parametrize("builder", BUILDERS)
def test_quoted_values_folded_over_lines(value, builder):
    templates = ItemTemplates(builder)
    texts = [f"- kind: Node\n  metadata:\n    annotations:\n      v: {value.replace('a', c)}\n      n: {c}\n"
             for c in "abcdefg"]
    converted = [check(templates, text) for text in texts]
    if line_parsed(texts[-1]) is not NotKubectlYaml:
        assert converted[1:] == [True] * (len(texts) - 1)


@pytest.mark.parametrize("tail", ["", "\n", "\n\n# column-0 comment\n", "\n-\n", "\n- kind: Pod\n",
                                  "\n- 'x'\n", "\n-x: 1\n"])
@pytest.mark.parametrize("builder", BUILDERS)
def test_blocks_of_items_cut_where_the_line_parser_cuts_them(tail, builder):
    item = "- kind: Pod\n  metadata:\n    name: {}\n  v: '{}\n    more'"
    block = "\n".join(item.format(f"p{k}", "x" * k) for k in range(8)) + tail
    check(ItemTemplates(builder), block)
    templates = ItemTemplates(builder)
    starts, docs = templates.read_block(block)
    lines = block.split("\n")
    assert [block.count("\n", 0, start) for start in starts] == [
        k for k, line in enumerate(lines) if line[:1] == "-" and line[1:2] in ("", " ")]
    assert docs[:7].count(None) == 1  # the first of the shape: the line parser reads it
    # a value over more lines whose line starts at column 0 is no item start, and no template value
    folded = "- kind: Pod\n  v: 'a\n- b'\n" * 5
    check(templates, folded)
    assert len(templates.read_block(folded)[0]) == 10


@pytest.mark.parametrize("builder", BUILDERS)
def test_many_shapes_take_the_split_past_the_pattern_budget(monkeypatch, builder):
    from migctl.yamlio import item_json

    monkeypatch.setattr(item_json, "_MAX_PATTERNS", 2)
    templates = ItemTemplates(builder)
    texts = [f"- kind: Pod\n  k{shape}: {value}\n" for shape in range(4) for value in "abcdef"]
    assert [check(templates, text) for text in texts].count(False) == 4  # the first item of each shape
    assert sum(t.match is not None for t in templates._templates.values()) == 2


@pytest.mark.parametrize("builder", BUILDERS)
def test_comments_and_duplicate_keys(builder):
    templates = ItemTemplates(builder)
    for v in ["a", "b", "c"]:
        text = (f"- kind: Pod\n  # note: {v}\n  metadata:\n    name: first-{v}\n    name: {v}\n"
                f"# column-0 comment: {v}\n  spec: {{}}\n\n")
        check(templates, text)
    read = templates.read_block(text.replace(": c\n", ": d\n"))[1][0]
    if builder is None:
        assert json.loads(read) == {"kind": "Pod", "metadata": {"name": "d"}, "spec": {}}
    else:
        assert read == kube_json.Item("Pod", kube_json.Meta("d"))


_keyish = st.sampled_from(["a", "b", "name", "nvidia.com/gpu", "k:{\"x\":1}", "f:x", "1", "true", "%", "a b"])
_values = st.one_of(
    st.sampled_from(["", " ", "a b", "a: b", "a #b", "'", "''", '"', "x\ny", "- x", "{}", "[]", "null", "~",
                     "True", "010", "0x1F", "-7", "2026-11-28", "|", "> x", "&a", "*a", "!t", "@", "`", "%", "%s",
                     "a\\b", "é ü 中", "line\n", "\ue0001", "x:", "x: ", ":x", "on", "1Gi", "10.0.0.1/24"]),
    st.integers(-99, 10**6), st.booleans(), st.none(),
    st.text(st.sampled_from("ab '\"#:-\n\\%{}"), max_size=40),
)
_docs = st.recursive(
    _values,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keyish, inner, max_size=4)),
    max_leaves=12,
)
_scalars = st.dictionaries(_keyish, _values, max_size=3)
#: Objects shaped like the Kubernetes objects the typed structs read (their field names, mostly the types
#: they take), so that shapes the structs take and shapes they refuse are both drawn.
_item_like = st.fixed_dictionaries(
    {"kind": st.one_of(st.sampled_from(["Pod", "Node", "ConfigMap", "List"]), _values)},
    optional={
        "metadata": st.fixed_dictionaries({}, optional={
            "name": _values, "namespace": _values, "uid": _values, "labels": _scalars, "annotations": _scalars,
            "deletionTimestamp": _docs}),
        "spec": st.fixed_dictionaries({}, optional={
            "nodeName": _values, "schedulerName": _values, "nodeSelector": _scalars, "unschedulable": _docs,
            "taints": st.lists(_scalars, max_size=2),
            "containers": st.lists(st.fixed_dictionaries({}, optional={
                "name": _values, "restartPolicy": _docs, "image": _docs,
                "resources": st.one_of(st.none(), st.fixed_dictionaries(
                    {}, optional={"requests": _scalars, "limits": _scalars}))}), max_size=2)}),
        "status": st.fixed_dictionaries({}, optional={
            "phase": _values, "allocatable": _scalars,
            "conditions": st.lists(st.fixed_dictionaries({}, optional={"type": _docs, "status": _docs}),
                                   max_size=2)}),
        "data": _scalars, "items": _docs, "other": _docs,
    })


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.dictionaries(_keyish, _docs, min_size=1, max_size=4), _item_like),
       st.lists(st.lists(_values, min_size=1), max_size=4), st.sampled_from([20, 80]), st.sampled_from(BUILDERS))
def test_items_of_one_shape_with_any_values(skeleton, fills, width, builder):
    """Items that share a skeleton, their leaves replaced in turn by any values, through one set of templates."""
    templates = ItemTemplates(builder)

    def refill(doc: Any, values: Any) -> Any:
        if isinstance(doc, dict):
            return {k: refill(v, values) for k, v in doc.items()}
        if isinstance(doc, list):
            return [refill(v, values) for v in doc]
        return next(values, doc)

    for values in [[], [], [], [], *fills]:  # a shape is built from its fourth item on
        text = yaml.safe_dump([refill(skeleton, itertools.cycle(values))], default_flow_style=False,
                              allow_unicode=True, width=width, sort_keys=False)
        check(templates, text)


@settings(max_examples=300, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 4), st.sampled_from(BUILDERS))
def test_mutated_items_after_their_shape_is_known(rnd: random.Random, edits, builder):
    """Mutated copies of generated items, read after the originals made their templates."""
    objects = list(generate(2, 2, 4, generation=rnd.choice(["v2.9", "v2.10"]), realistic=rnd.random() < 0.5,
                            seed=rnd.randint(1, 9)))
    texts = item_texts(objects)
    templates = ItemTemplates(builder)
    for text in texts * 4:  # each shape's own pattern is made on its third item
        check(templates, text)
    for _ in range(4):
        lines = rnd.choice(texts).split("\n")
        mutate(rnd, lines, edits)
        text = "\n".join(lines)
        if text.startswith("- "):
            check(templates, text)
            check(templates, text)


# --- whole snapshots: typed structs against the line parser's dicts ------------------------------------------


_real_yaml_batches = kube_list.yaml_batches
#: How ``load_snapshot`` reads a YAML snapshot's repeating items: built into typed structs (what it does),
#: decoded into them from JSON, or every item by the line parser.
_READERS = {
    "built": _real_yaml_batches,
    "json": lambda fh, path, **kw: _real_yaml_batches(fh, path, **{**kw, "builder": None}),
    "lines": lambda fh, path, **kw: _real_yaml_batches(fh, path, **{**kw, "typed": None}),
}


def outcome(path: Path, reader: str) -> Any:
    saved = kube_list.yaml_batches
    kube_list.yaml_batches = _READERS[reader]
    try:
        cluster = load_snapshot(path)
    except InputError as exc:
        return ("error", exc.message)
    finally:
        kube_list.yaml_batches = saved
    return ("cluster", cluster.nodes, cluster.pods, cluster.device_config_text, cluster.device_config_source,
            cluster.source, [w.to_dict() for w in cluster.all_warnings()])


def write_snapshot(path: Path, objects: list[dict[str, Any]]) -> Path:
    buf = io.StringIO()
    dump_snapshot(objects, buf)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def count_typed(path: Path) -> int:
    """How many objects of ``path`` ``load_snapshot`` read through the typed structs."""
    calls = []
    real = kube_json.add_objects
    kube_json.add_objects = lambda cluster, batch, *rest: calls.append(
        sum(isinstance(obj, kube_json.Item) for obj in batch)) or real(cluster, batch, *rest)
    try:
        load_snapshot(path)
    finally:
        kube_json.add_objects = real
    return sum(calls)


@pytest.mark.parametrize("generation", ["v2.9", "v2.10"])
@pytest.mark.parametrize("realistic", [False, True])
@pytest.mark.parametrize("typed", ["built", "json"])
def test_generated_snapshots_build_the_same_cluster(tmp_path, typed_for_any_size, monkeypatch, generation, realistic, typed):
    monkeypatch.setattr(kube_list, "_BLOCK_CHARS", 4000)  # many blocks: runs of items cut at block ends too
    path = write_snapshot(tmp_path / "g.yaml", list(generate(6, 4, 80, generation=generation,
                                                                realistic=realistic, seed=5)))
    assert outcome(path, typed) == outcome(path, "lines")
    assert count_typed(path) >= 60


@pytest.mark.parametrize("name", ["examples/cluster.yaml", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "data" / "cluster").glob("*.yaml"))])
@pytest.mark.parametrize("typed", ["built", "json"])
def test_shipped_yaml_snapshots(typed_for_any_size, name, typed):
    assert outcome(ROOT / name, typed) == outcome(ROOT / name, "lines")


@pytest.mark.parametrize("typed", ["built", "json"])
def test_items_outside_the_structs_form_are_read_as_dicts(tmp_path, typed_for_any_size, typed):
    objects = list(generate(2, 2, 12, generation="v2.10", seed=1))
    pods = [o for o in objects if o["kind"] == "Pod"]
    pods[5]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = 1  # a number, not a quantity
    pods[6]["kind"] = "Service"  # another kind: skipped, as by the dict reader
    pods[7]["metadata"]["labels"] = {"a": None}
    path = write_snapshot(tmp_path / "odd.yaml", objects)
    assert outcome(path, typed) == outcome(path, "lines")


@pytest.mark.parametrize("typed", ["built", "json"])
def test_a_bad_item_after_typed_ones_names_its_line(tmp_path, typed_for_any_size, typed):
    path = write_snapshot(tmp_path / "g.yaml", list(generate(2, 2, 30, generation="v2.10", seed=2)))
    lines = path.read_text().split("\n")
    late = max(k for k, line in enumerate(lines) if line == "  kind: Pod")
    lines.insert(late + 1, "   bad: indent")
    path.write_text("\n".join(lines))
    result = outcome(path, typed)
    assert result == outcome(path, "lines")
    assert result[0] == "error" and f"{path}:{late + 2}:" in result[1]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.randoms(use_true_random=False), st.integers(1, 5), st.sampled_from(["built", "json"]))
def test_mutated_snapshot_files_build_the_same_cluster_or_fail_the_same(tmp_path_factory, typed_for_any_size,
                                                                         rnd: random.Random, edits, typed):
    path = mutated_snapshot(rnd, edits, tmp_path_factory.mktemp("m"), pods=8)
    assert outcome(path, typed) == outcome(path, "lines")


def test_large_yaml_snapshots_take_the_typed_reader(tmp_path):
    path = write_snapshot(tmp_path / "big.yaml", list(generate(20, 8, 1500, realistic=True, seed=2)))
    assert path.stat().st_size >= snapshot.TYPED_MIN_BYTES
    assert count_typed(path) >= 1400

