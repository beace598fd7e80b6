"""The line parser for kubectl's YAML (``migctl.yamlio.block_yaml``) against the exact libyaml path.

The property every test here checks: for any text, the line parser either refuses it (``NotKubectlYaml``,
and the reader takes the exact path) or builds exactly what the exact path builds. Never a guess.
"""

from __future__ import annotations

import functools
import io
import random
import sys
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from migctl.yamlio import block_yaml
from migctl.yamlio.block_yaml import NotKubectlYaml, parse_items
from migctl.cluster.model import Cluster
from migctl.cluster.snapshot import dump_snapshot, load_snapshot
from migctl.yamlio.kube_list import Unsupported as _Unsupported, fast_yaml as _fast_yaml
from migctl.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).parent / "data" / "cluster"
sys.path.insert(0, str(ROOT / "bench"))

from gen_cluster import generate  # noqa: E402
from yaml_mutation import mutate, mutated_snapshot  # noqa: E402


def exact(text: str):
    """What the exact path builds for an items chunk, or the YAMLError it raises."""
    try:
        return _fast_yaml(text)
    except _Unsupported:
        return yaml.load(text, Loader=yaml.CSafeLoader)  # noqa: S506


def assert_same_or_refused(text: str) -> bool:
    """The line parser's answer equals the exact one, or it refuses; True when it parsed."""
    try:
        fast = parse_items(text)
    except NotKubectlYaml:
        return False
    try:
        reference = exact(text)
    except yaml.YAMLError as exc:  # the line parser accepted text that is not YAML: a bug
        raise AssertionError(f"line parser accepted invalid YAML ({exc}):\n{text}") from None
    assert fast == reference, text
    return True


def exact_cluster(path: Path) -> Cluster:
    """``load_snapshot`` with every YAML item read by the exact (libyaml) path."""
    from migctl.yamlio import kube_list

    with mock.patch.object(kube_list, "yaml_batches", functools.partial(kube_list.yaml_batches, line_parser=False,
                                                                         typed=None)):
        return load_snapshot(path)


def assert_same_cluster(path: Path) -> None:
    fast, reference = load_snapshot(path), exact_cluster(path)
    assert fast.nodes == reference.nodes  # every field of every Node (dataclass equality)
    assert sorted(fast.pods, key=lambda p: p.key) == sorted(reference.pods, key=lambda p: p.key)
    assert fast.device_config_text == reference.device_config_text
    assert [w.to_dict() for w in fast.all_warnings()] == [w.to_dict() for w in reference.all_warnings()]


def write_snapshot(path: Path, objects) -> Path:
    buf = io.StringIO()
    dump_snapshot(list(objects), buf)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


# --- whole snapshots -----------------------------------------------------------------------------------


@pytest.mark.parametrize("generation", ["v2.9", "v2.10"])
@pytest.mark.parametrize("realistic", [False, True])
def test_generated_snapshots_load_the_same_cluster(tmp_path, generation, realistic):
    path = write_snapshot(tmp_path / "gen.yaml", generate(6, 4, 60, generation=generation, realistic=realistic))
    assert_same_cluster(path)
    # the line parser read every Node and Pod itself (the register annotation is a folded quoted scalar);
    # only the v2.9 device ConfigMap, whose text PyYAML writes with escapes, takes the exact path
    lines = path.read_text().split("\n")
    first = lines.index("items:") + 1
    stop = next((k for k in range(first, len(lines)) if lines[k].startswith("kind: List")), len(lines))
    values = [v for _, _, v in block_yaml.iter_items(lines, first, stop)]
    assert len(values) == 6 + 60 + (generation == "v2.9")
    assert sum(v is block_yaml.NOT_OURS for v in values) == (generation == "v2.9")


@pytest.mark.parametrize("path", [EXAMPLES / "cluster.yaml", *sorted(DATA.glob("*.yaml"))], ids=lambda p: p.name)
def test_examples_and_test_data_load_the_same_cluster(path):
    assert_same_cluster(path)


def test_items_the_parser_refuses_take_the_exact_path(tmp_path):
    base = yaml.safe_load((EXAMPLES / "cluster.yaml").read_text())["items"]
    text = write_snapshot(tmp_path / "a.yaml", base).read_text()
    # an anchor/alias, a flow mapping and a tab-free folded scalar in three items: all through libyaml
    text = text.replace("  kind: Node\n", "  kind: &k Node\n", 1)
    text = text.replace("kind: Pod\n", "kind: {a: 1}\n  kind: Pod\n", 1)
    path = tmp_path / "b.yaml"
    path.write_text(text)
    assert_same_cluster(path)
    assert len(load_snapshot(path).nodes) == len([o for o in base if o["kind"] == "Node"])


def test_crlf_and_tabs_take_the_exact_path(tmp_path):
    text = (EXAMPLES / "cluster.yaml").read_text()
    path = tmp_path / "crlf.yaml"
    path.write_bytes(text.replace("\n", "\r\n").encode())
    assert_same_cluster(path)
    assert len(load_snapshot(path).nodes) == len(load_snapshot(EXAMPLES / "cluster.yaml").nodes)


def test_a_bad_item_after_good_ones_names_its_line(tmp_path):
    objs = list(generate(3, 2, 20))
    text = write_snapshot(tmp_path / "g.yaml", objs).read_text().split("\n")
    pod_line = max(k for k, line in enumerate(text) if line == "  kind: Pod")
    text.insert(pod_line + 1, "   bad: indent")
    path = tmp_path / "bad.yaml"
    path.write_text("\n".join(text))
    with pytest.raises(InputError) as info:
        load_snapshot(path)
    assert f"{path}:{pod_line + 2}:" in info.value.message


def test_list_keys_and_more_documents_after_the_items(tmp_path):
    objs = list(generate(2, 2, 4))
    text = write_snapshot(tmp_path / "g.yaml", objs[:3]).read_text()
    text += "---\n" + yaml.safe_dump_all(objs[3:])
    path = tmp_path / "docs.yaml"
    path.write_text(text)
    assert_same_cluster(path)
    assert len(load_snapshot(path).pods) == 4


# --- the parser on its own: generated documents ------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_keyish = st.one_of(st.sampled_from(["name", "kind", "a b", "x:y", "hami.io/vgpu-node", "true", "1", "~", "-k",
                                     "<<", "#c", "'q'"]), st.text(max_size=8))
_scalars = st.one_of(
    _text,
    st.sampled_from(["", " ", "a b", "a: b", "a #b", "'", "''", '"', "x\ny", "x\n\ny\n", "- x", "{}", "[]",
                     "null", "~", "True", "010", "0x1F", "1e3", "1.5", "-7", "2026-11-28", "|", "> x", "&a",
                     "*a", "!t", "@", "`", "%", "a\\b", "tab\there", "é ü 中", "\u2028", "\x85", "line\n"]),
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.none(),
    st.text(st.sampled_from("ab '\"#:-\n\\"), max_size=120),  # long strings get folded
)
_docs = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keyish, inner, max_size=5)),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.dictionaries(_keyish, _docs, min_size=1, max_size=5), min_size=1, max_size=3),
       st.sampled_from([None, 20, 80]), st.sampled_from([2, 4]), st.sampled_from([None, "'", '"', "|"]))
def test_parser_equals_libyaml_on_dumped_documents(items, width, indent, style):
    text = yaml.safe_dump(items, default_flow_style=False, allow_unicode=True, width=width or 80,
                          indent=indent, default_style=style, sort_keys=False)
    assert_same_or_refused(text)


_tame_text = st.text(st.sampled_from("abz09 ./-_:'\"\n{}"), max_size=100)  # mostly what kubectl writes
_tame_docs = st.recursive(
    st.one_of(_tame_text, st.integers(-99, 99), st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.from_regex(r"[a-z][a-z0-9./-]{0,12}", fullmatch=True), inner,
                                            max_size=4)),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["metadata", "spec", "status", "kind"]), _tame_docs, min_size=1),
                min_size=1, max_size=3), st.sampled_from([20, 80, 100_000]))
def test_parser_equals_libyaml_on_kubectl_like_documents(items, width):
    text = yaml.safe_dump(items, default_flow_style=False, allow_unicode=True, width=width, sort_keys=False)
    assert_same_or_refused(text)


def test_parser_reads_kubectl_shapes():
    text = (
        "- apiVersion: v1\n"
        "  kind: Pod\n"
        "  metadata:\n"
        "    annotations:\n"
        "      long: '[{\"id\":\"GPU-1\",\"type\":\"NVIDIA\n"
        "        A100\"}, it''s]'\n"
        "      dq: \"a\n\n"
        "        b\"\n"
        "      script: |\n"
        "        line 1\n"
        "          # not a comment\n"
        "\n"
        "        line 3\n"
        "      strip: |-\n"
        "        x\n"
        "      keep: |+\n"
        "        y\n"
        "\n"
        "    name: p\n"
        "    labels: {}\n"
        "  spec:\n"
        "    containers:\n"
        "    - name: main\n"
        "      args:\n"
        "      - --flag\n"
        "      - '1'\n"
        "      - -3\n"
        "      ports: []\n"
        "      resources:\n"
        "        limits:\n"
        "          nvidia.com/gpu: 1\n"
        "    tolerations:\n"
        "      - key: a\n"
        "        value:\n"
        "      - effect: NoSchedule\n"
        "  status: {}\n"
        "- kind: Node\n"
    )
    assert assert_same_or_refused(text)
    item = parse_items(text)[0]
    assert item["metadata"]["annotations"]["long"] == '[{"id":"GPU-1","type":"NVIDIA A100"}, it\'s]'
    assert item["metadata"]["annotations"]["script"] == "line 1\n  # not a comment\n\nline 3\n"
    assert item["spec"]["containers"][0]["args"] == ["--flag", "1", -3]
    assert item["spec"]["tolerations"] == [{"key": "a", "value": None}, {"effect": "NoSchedule"}]


@pytest.mark.parametrize("text", [
    "- a: &x 1\n  b: *x\n",          # anchors and aliases
    "- a: !!str 1\n",                # tags
    "- a: {b: 1}\n",                 # flow collections
    "- a: >\n    folded\n",          # folded block scalars
    "- a: plain\n    continued\n",   # multi-line plain scalars
    "- 'quoted key': 1\n",           # quoted keys
    "- ? complex\n  : key\n",        # complex keys
    "- a: 1 # comment\n",            # comments after a value
    "- a: \"esc\\taped\"\n",         # escapes
    "- <<: {b: 1}\n",                # merge keys
    "- - nested\n",                  # a sequence in a sequence entry
    "- a: b: c\n",                   # not YAML at all
    "- a: 1\n   b: 2\n",             # odd indentation
    "- a: 'open\nb: 1'\n",           # a quoted scalar continued at column 0
    "- a:\tb\n",                     # tabs
    "- a: 1\r\n",                    # CR line ends
])
def test_parser_refuses_what_it_does_not_read(text):
    with pytest.raises(NotKubectlYaml):
        parse_items(text)


# --- the parser on its own: mutated kubectl text ------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 4))
def test_mutated_kubectl_text_is_parsed_the_same_or_refused(rnd: random.Random, edits):
    objs = list(generate(2, 2, 3, generation=rnd.choice(["v2.9", "v2.10"]), realistic=True, seed=rnd.randint(1, 9)))
    buf = io.StringIO()
    dump_snapshot(objs, buf)
    lines = buf.getvalue().split("\n")
    body = [x for x in lines[lines.index("items:") + 1 :] if x]
    start = rnd.randrange(len(body) - 40)
    body = body[start:][:40]
    while body and not body[0].startswith("- "):
        body = body[1:] or ["- a: 1"]
    mutate(rnd, body, edits, drop=True, columns=9)
    if not body or not body[0].startswith("-"):
        return
    text = "\n".join(body) + "\n"
    try:
        fast = parse_items(text)
    except NotKubectlYaml:
        return
    try:
        reference = exact(text)
    except yaml.YAMLError as exc:
        raise AssertionError(f"line parser accepted invalid YAML ({exc}):\n{text}") from None
    assert fast == reference, text


def test_small_blocks_keep_items_and_line_numbers(tmp_path, monkeypatch):
    from migctl.yamlio import kube_list

    monkeypatch.setattr(kube_list, "_BLOCK_CHARS", 300)  # many blocks, cut between items
    path = write_snapshot(tmp_path / "g.yaml", generate(4, 2, 30, generation="v2.10"))
    assert_same_cluster(path)
    assert len(load_snapshot(path).pods) == 30
    lines = path.read_text().split("\n")
    # a tab in one block sends that block through the exact path; the others stay on the line parser
    tabbed = max(k for k, line in enumerate(lines) if line.startswith("    namespace:"))
    lines[tabbed] = lines[tabbed] + "\t"
    path.write_text("\n".join(lines))
    assert_same_cluster(path)
    # an error in a late block is reported at its line in the file
    late = max(k for k, line in enumerate(lines) if line == "  kind: Pod")
    lines.insert(late + 1, "   bad: indent")
    path.write_text("\n".join(lines))
    with pytest.raises(InputError) as info:
        load_snapshot(path)
    assert f"{path}:{late + 2}:" in info.value.message


def test_odd_kinds_are_skipped_like_the_exact_path(tmp_path):
    text = ("apiVersion: v1\nitems:\n- kind: [a]\n- kind:\n    x: 1\n- kind: Service\n- kind: Node\n"
            "  metadata:\n    name: n1\n- kind: List\n  items:\n  - kind: Node\n    metadata:\n      name: n2\n")
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    assert_same_cluster(path)
    assert [n.name for n in load_snapshot(path).nodes] == ["n1", "n2"]


def _outcome(load):
    try:
        cluster = load()
    except InputError as exc:
        return ("error", exc.message)
    return ("cluster", cluster.nodes, sorted(cluster.pods, key=lambda p: p.key), cluster.device_config_text,
            [w.to_dict() for w in cluster.all_warnings()])


@settings(max_examples=150, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 5))
def test_mutated_snapshot_files_load_the_same_or_fail_the_same(tmp_path_factory, rnd: random.Random, edits):
    path = mutated_snapshot(rnd, edits, tmp_path_factory.mktemp("m"), pods=4)
    assert _outcome(lambda: load_snapshot(path)) == _outcome(lambda: exact_cluster(path))


@pytest.mark.parametrize("text", ["- a: |\n    line one\n    line two", "- a: |+\n    x", "- a: |\n    x\n",
                                  "- a: |\n    x\n- b: 1", "- a: |\n    x\n  "])
def test_literal_block_scalar_at_the_end_of_the_text(text):
    """A ``|`` / ``|+`` scalar on the last line of a file without a final newline has no line break to keep."""
    assert assert_same_or_refused(text)
