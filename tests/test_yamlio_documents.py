"""``yaml_documents`` (values built from libyaml's events) against PyYAML's own loader, its reference."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from migctl.errors import InputError
from migctl.simulate.synthetic import synthetic_pod_objects
from migctl.yamlio.documents import _exact_documents, yaml_documents

SAMPLES = [
    "", "x", "a: 1\n---\n", "--- 1\n--- null\n...\n", "---\n---\nx: [1, 2.5, yes, ~, 2020-01-01, '1', 0o17, 0x1f, .inf]\n",
    "a: &x {b: 1}\nc: *x\n", "- 1\n- !!str 2\n", "a:\n  <<: {b: 1}\n", "? [1]\n: 2\n", "t: 2001-12-14t21:59:43.10-05:00\n",
    "cpu: 0.5\nmem: 1e3\non: on\nOff: NO\nn: -0b101\nm: 1_000\ns: 190:20:30\n", "a: |\n  x\n  y\nb: >-\n  z\n",
    # a literal block scalar on the text's last line, without a final line break (nothing to clip)
    "a: |\n  line one\n\n  line two", "a: |\n  x\n---\nb: |\n  y", "a: |\n  x\n---\nb: 1\n",
]
BAD = ["a: [1\n", "a: 1\n b: 2\n", "k: =\n", "a: !!int x\n", "x: *nope\n", "a: 1\na: 1\n---\n- : :\n  x"]


def same(text: str) -> None:
    try:
        want: object = repr(_exact_documents(text, "f.yaml"))
    except InputError as exc:
        want = str(exc)
    try:
        got: object = repr(yaml_documents(text, "f.yaml"))
    except InputError as exc:
        got = str(exc)
    assert got == want


@pytest.mark.parametrize("text", SAMPLES + BAD)
def test_values_lines_and_errors_are_pyyamls(text):
    same(text)


def test_a_pod_file_reads_as_pyyaml_reads_it():
    same(yaml.safe_dump_all(synthetic_pod_objects(300), sort_keys=False))


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
                    st.sampled_from(["1", "0.5", "yes", "~", "null", "2020-01-01", "<<", "=", "0x1F", "1:30"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                      max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(docs=st.lists(values, min_size=1, max_size=3), flow=st.booleans())
def test_dumped_documents_read_as_pyyaml_reads_them(docs, flow):
    same(yaml.safe_dump_all(docs, default_flow_style=flow, allow_unicode=True))


def test_block_documents_are_read_by_the_line_parser(monkeypatch):
    """A yaml.dump'ed pod file never reaches libyaml's events: the line parser reads it, and reads it as PyYAML does."""
    import migctl.yamlio.documents as documents

    text = yaml.safe_dump_all(synthetic_pod_objects(200), sort_keys=False)
    want = _exact_documents(text, "f.yaml")

    def refuse(_text):
        raise AssertionError("the event builder was used")

    monkeypatch.setattr(documents, "_event_documents", refuse)
    assert repr(yaml_documents(text, "f.yaml")) == repr(want)


# Block YAML written by hand: the line parser's subset and its edges (anything it refuses goes to the
# event builder, so every text must still read as PyYAML reads it).
PLAINS = ["1", "-1", "0.5", "1e3", "yes", "On", "NO", "~", "null", "2020-01-01", "0x1F", "0o17", "1_000", ".inf",
          "190:20:30", "<<", "=", "a b", "a:b", "-x", "x-", "nvidia.com/gpu", "4Gi", "500m", "true", "Null"]
keys = st.sampled_from(["a", "b", "metadata", "1", "on", "null", "x.y/z", "<<", "k k", "-k"])
leaf = st.one_of(st.sampled_from(PLAINS).map(lambda p: ("plain", p)),
                 st.sampled_from(["'1'", "'it''s'", '"x y"', '"a\\tb"', "''", "{}", "[]", "|", "|-", "|+", ">"]).map(
                     lambda q: ("raw", q)))


@st.composite
def block(draw, indent=0, depth=0):
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        key = draw(keys)
        kind = draw(st.sampled_from(["leaf", "map", "seq", "seq-in", "blank", "comment"] if depth < 2 else ["leaf"]))
        pad = " " * indent
        if kind == "blank":
            lines.append("")
            kind = "leaf"
        elif kind == "comment":
            lines.append(pad + "# a comment: [x]")
            kind = "leaf"
        if kind == "leaf":
            how, value = draw(leaf)
            if value in ("|", "|-", "|+", ">"):
                lines += [f"{pad}{key}: {value}", f"{pad}  line one", "", f"{pad}  line two"]
            else:
                lines.append(f"{pad}{key}: {value}")
        elif kind == "map":
            lines.append(f"{pad}{key}:")
            lines += draw(block(indent + 2, depth + 1))
        else:
            lines.append(f"{pad}{key}:")
            at = indent if kind == "seq" else indent + 2
            for _ in range(draw(st.integers(1, 2))):
                if draw(st.booleans()):
                    lines.append(" " * at + "- " + draw(st.sampled_from(PLAINS)))
                else:
                    inner = draw(block(at + 2, depth + 1))
                    lines.append(" " * at + "- " + inner[0].lstrip(" ") if inner[0].strip() else " " * at + "- x: 1")
                    lines += inner[1:]
    return lines


@settings(max_examples=300, deadline=None)
@given(docs=st.lists(block(), min_size=1, max_size=3), seps=st.lists(st.sampled_from(["---", "---\n", "---\n# c"]),
                                                                       min_size=3, max_size=3),
       lead=st.booleans(), trail=st.sampled_from(["", "\n", "\n---\n", "\n\n"]))
def test_hand_written_block_documents_read_as_pyyaml_reads_them(docs, seps, lead, trail):
    parts = []
    for i, lines in enumerate(docs):
        if i or lead:
            parts.append(seps[i])
        parts.append("\n".join(lines))
    same("\n".join(parts) + trail)
