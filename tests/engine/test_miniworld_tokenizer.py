"""The miniworld tokenizer: one id per character, BOS/EOS/PAD fixed, saves and reloads via AutoTokenizer."""

import pytest

pytest.importorskip("transformers")

from planner.demo.miniworld import task  # noqa: E402
from planner.demo.miniworld.tokenizer import BOS_ID, EOS_ID, PAD_ID, VOCAB, build_tokenizer, encode  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from transformers import AutoTokenizer

    d = tmp_path_factory.mktemp("tok")
    build_tokenizer().save_pretrained(d)
    return AutoTokenizer.from_pretrained(d)


def test_round_trip_every_problem_text(saved):
    for p in task.make_problems(30, 0, "test"):
        text = p["question"] + p["solution"]
        ids = saved(text)["input_ids"]
        assert ids[0] == BOS_ID
        assert ids[1:] == encode(text)
        assert len(ids) == len(text) + 1
        assert saved.decode(ids, skip_special_tokens=True) == text


def test_special_tokens(saved):
    assert (saved.bos_token_id, saved.eos_token_id, saved.pad_token_id) == (BOS_ID, EOS_ID, PAD_ID)
    assert saved.decode([VOCAB["0"], VOCAB["1"], EOS_ID], skip_special_tokens=True) == "01"
    assert len(saved) == len(VOCAB)
    # unknown characters map to <unk> rather than failing
    assert saved("x")["input_ids"] == [BOS_ID, VOCAB["<unk>"]]


def test_chat_template_gives_the_same_ids_as_the_raw_prompt(saved):
    q = "Q:7+5-2="
    templ = saved.apply_chat_template([{"role": "user", "content": q}], tokenize=True, add_generation_prompt=True)
    if isinstance(templ, dict) or hasattr(templ, "keys"):
        templ = templ["input_ids"]
    assert list(templ) == saved(q)["input_ids"]


def test_left_padding_for_batched_prompts(saved):
    enc = saved(["Q:1=", "Q:12+3="], padding=True)
    assert enc["input_ids"][0][:3] == [PAD_ID] * 3
    assert enc["attention_mask"][0] == [0, 0, 0, 1, 1, 1, 1, 1]
