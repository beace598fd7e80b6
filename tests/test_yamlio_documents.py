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
