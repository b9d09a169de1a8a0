"""The tiny YAML writer behind `--format yaml`: what it writes must read back identically with a real YAML
reader, including strings that look like numbers, booleans or null."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.export.yaml_emit import dump, scalar

yaml = pytest.importorskip("yaml")


@pytest.mark.parametrize("value,text", [
    (True, "true"), (False, "false"), (None, "null"), (4, "4"), (0.5, "0.5"),
    ("DraftTarget", "DraftTarget"), ("Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct"),
    ("true", '"true"'), ("No", '"No"'), ("1.5", '"1.5"'), (".5", '".5"'), ("", '""'), ("a: b", '"a: b"'),
    ("x #y", '"x #y"'), ("-1", '"-1"'), ("~", '"~"'), ("it's", '"it\'s"'),
])
def test_scalar(value, text):
    assert scalar(value) == text
    assert yaml.safe_load(f"k: {text}") == {"k": value}


def test_nested_and_empty():
    d = {"speculative_config": {"decoding_type": "NGram", "max_draft_len": 3, "is_public_pool": False},
         "empty": {}, "none": [], "list": [1, "two", None], "disable_overlap_scheduler": True}
    text = dump(d)
    assert text.startswith("speculative_config:\n  decoding_type: NGram\n")
    assert yaml.safe_load(text) == d


def test_rejects_what_it_cannot_write():
    with pytest.raises(TypeError):
        dump({"a": object()})
    with pytest.raises(TypeError):
        dump({"a": [[1]]})
    with pytest.raises(ValueError):
        dump({"a": float("nan")})


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**9, 10**9),
                    st.floats(allow_nan=False, allow_infinity=False, width=32), st.text(max_size=12))
keys = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8)
trees = st.recursive(st.dictionaries(keys, st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=4),
                     lambda children: st.dictionaries(keys, children, max_size=3), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(trees)
@pytest.mark.slow
def test_round_trip(tree):
    assert yaml.safe_load(dump(tree)) == (tree or None)
