"""--draft / --draft-config / --acceptance on derived profiles (issue 18): each drafter kind on any model, its
acceptance from per-position alphas or a published length (the round gains exactly the published tokens), the
preset's drafter kept when no flag is given, K = 0 said when no drafter is known, the plan's notes naming every
origin; and the bad-input list: each exit 2, one line, nothing written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from planner.model import drafts
from planner.model.latency import tokens_per_round
from planner.profile.derive import derive_profile
from planner.profile import presets as P
from planner.profile.schema import Profile
from test_bad_inputs import assert_contract, run  # the CLI call and the one-line error check

LLAMA8B = {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
           "max_position_embeddings": 131072, "model_type": "llama", "num_attention_heads": 32,
           "num_hidden_layers": 32, "num_key_value_heads": 8, "tie_word_embeddings": False,
           "torch_dtype": "bfloat16", "vocab_size": 128256, "bos_token_id": 128000, "eos_token_id": 128009}
# Llama-3.2-1B-Instruct's config.json: 1,235,814,400 parameters (the published count)
LLAMA1B = {"architectures": ["LlamaForCausalLM"], "hidden_size": 2048, "intermediate_size": 8192,
           "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
           "head_dim": 64, "tie_word_embeddings": True, "torch_dtype": "bfloat16", "vocab_size": 128256,
           "bos_token_id": 128000, "eos_token_id": 128009}
EAGLE3_HEAD = {"architectures": ["LlamaForCausalLMEagle3"], "hidden_size": 4096, "num_hidden_layers": 1,
               "draft_vocab_size": 32000, "vocab_size": 128256}
HEAD_ID = "yuhuili/EAGLE3-LLaMA3.1-Instruct-8B"




def write(tmp_path, name, cfg) -> str:
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    (d / "config.json").write_text(json.dumps(cfg))
    return str(d / "config.json")


def derived(capsys, tmp_path, *flags) -> Profile:
    out = tmp_path / "derived.json"
    rc, _, err = run(capsys, "profiles", "derive", "--gpu", "h100-sxm", *flags, "-o", out)
    assert rc == 0, err
    return Profile.from_dict(json.loads(out.read_text()))


# ---- acceptance inputs against hand values -------------------------------------------------------------------
def test_published_length_is_what_a_round_gains(capsys, tmp_path):
    p = derived(capsys, tmp_path, "--model-config", "llama-3.1-8b", "--draft", f"eagle3:{HEAD_ID}",
                "--acceptance", "length=2.6@K2,3.2@K4")
    assert (p.draft.kind, p.draft.head.hf_id, p.draft.head.layers) == ("eagle3", HEAD_ID, 1)
    gained = tokens_per_round(p, np.array([2, 4]))
    assert gained == pytest.approx([2.6, 3.2], abs=1e-9)          # the published figures, reproduced
    assert p.id.endswith("-eagle3")


def test_published_head_of_a_preset_only_when_named(capsys, tmp_path):
    """--draft eagle3 on Llama-3.1-8B takes the published head and its published acceptance lengths (vllm#20780,
    MT-Bench: 2.36 .. 3.54 at K = 2..7), reproduced by every round; without --draft the preset plans K = 0."""
    p = derived(capsys, tmp_path, "--model-config", "llama-3.1-8b", "--draft", "eagle3")
    assert (p.draft.head.hf_id, p.draft.head.draft_vocab) == (HEAD_ID, 32000)
    published = [2.36, 2.79, 3.08, 3.32, 3.46, 3.54]
    assert tokens_per_round(p, np.arange(2, 8)) == pytest.approx(published, abs=1e-9)
    assert "acceptance: published: vllm#20780" in p.provenance["notes"]
    assert derive_profile("h100-sxm", "llama-3.1-8b")["draft"]["kind"] == "none"
    # the user's acceptance wins; another head id is not given the published numbers
    p = derived(capsys, tmp_path, "--model-config", "llama-3.1-8b", "--draft", "eagle3", "--acceptance", "0.6")
    assert p.acceptance.alpha == (0.6,)
    rc, _, err = run(capsys, "profiles", "derive", "--gpu", "h100-sxm", "--model-config", "llama-3.1-8b",
                     "--draft", "eagle3:someone/other-head")
    assert_contract(rc, err, "the acceptance of this drafter on Llama-3.1-8B-Instruct is not known")


def test_per_position_alphas_by_hand(capsys, tmp_path):
    p = derived(capsys, tmp_path, "--model-config", "llama-3.1-8b", "--draft", "ngram", "--acceptance",
                "0.8,0.7,0.6")
    assert p.draft.kind == "ngram" and p.acceptance.alpha == (0.8, 0.7, 0.6)
    assert float(tokens_per_round(p, np.array([3]))[0]) == pytest.approx(1 + 0.8 + 0.8 * 0.7 + 0.8 * 0.7 * 0.6)
    # positions beyond the list reuse the last value
    assert float(tokens_per_round(p, np.array([4]))[0]) == pytest.approx(1 + 0.8 + 0.56 + 0.336 + 0.336 * 0.6)


def test_draft_model_from_its_config_json(capsys, tmp_path):
    target = write(tmp_path, "llama8b", LLAMA8B)
    draft = write(tmp_path, "llama1b", LLAMA1B)
    p = derived(capsys, tmp_path, "--model-config", target, "--draft-config", draft, "--acceptance", "0.7")
    assert p.draft.kind == "model" and p.draft.arch.params == 1_235_814_400 and p.draft.arch.layers == 16
    assert p.draft.step is not None                               # priced on its own step coefficients
    same = derived(capsys, tmp_path, "--model-config", target, "--draft", f"draft_model:{draft}", "--acceptance",
                   "0.7")
    assert same.draft.arch == p.draft.arch


def test_head_from_its_config_and_mtp_from_the_targets(capsys, tmp_path):
    target = write(tmp_path, "llama8b", LLAMA8B)
    head = write(tmp_path, "head", EAGLE3_HEAD)
    p = derived(capsys, tmp_path, "--model-config", target, "--draft", f"eagle3:{HEAD_ID}", "--draft-config", head,
                "--acceptance", "0.75")
    assert (p.draft.head.layers, p.draft.head.draft_vocab) == (1, 32000)
    h, layer = 4096, (P.MODELS["llama-3.1-8b"]["params"] - 2 * 128256 * 4096) / 32
    assert drafts.draft_arch(p.model, p.draft).params == pytest.approx(layer + 3 * h * h + 32000 * h)
    mtp_target = write(tmp_path, "mtp", {**LLAMA8B, "num_nextn_predict_layers": 2})
    p = derived(capsys, tmp_path, "--model-config", mtp_target, "--draft", "mtp", "--acceptance", "0.8")
    assert (p.draft.kind, p.draft.head.layers, p.draft.head.hf_id) == ("mtp", 2, None)


def test_presets_keep_their_drafter_and_flags_override_parts(capsys, tmp_path):
    base = derive_profile("h100-sxm", "qwen2.5-7b")
    p = derived(capsys, tmp_path, "--model-config", "qwen2.5-7b", "--acceptance", "0.5")
    assert p.draft.name == base["draft"]["name"] == "Qwen2.5-0.5B-Instruct" and p.acceptance.alpha == (0.5,)
    p = derived(capsys, tmp_path, "--model-config", "qwen2.5-7b", "--draft", "ngram")
    assert p.draft.kind == "ngram" and list(p.acceptance.alpha) == P.ACCEPTANCE["qwen2.5-7b"]["ngram"]["alpha"]
    for flag in (["--draft", "none"], ["--acceptance", "none"]):
        p = derived(capsys, tmp_path, "--model-config", "qwen2.5-7b", *flag)
        assert p.draft.kind == "none" and p.acceptance is None and p.id.endswith("-nodraft")
        assert f"draft: none ({' '.join(flag)})" in p.provenance["notes"]


def test_plan_notes_name_every_origin(capsys, tmp_path):
    rc, out, err = run(capsys, "recommend", "-d", "30s", "--json", "--model-config", "llama-3.1-8b", "--gpu",
                       "h100-sxm", "--draft", f"eagle3:{HEAD_ID}", "--acceptance", "length=3.2@K4")
    assert rc == 0, err
    plan = json.loads(out)
    notes = "\n".join(plan["notes"])
    assert f"draft: eagle3 head {HEAD_ID}" in notes and "published acceptance length 3.2 at K=4" in notes
    assert "accuracy from:" in notes and "hardware from:" in notes
    assert plan["speculative"]["method"] in ("eagle3", "none")
    # no drafter known for this model: K = 0, and the plan says so
    rc, out, err = run(capsys, "recommend", "-d", "30s", "--json", "--model-config", "llama-3.1-8b", "--gpu",
                       "h100-sxm")
    plan = json.loads(out)
    assert plan["speculative"]["num_speculative_tokens"] == 0
    assert any(n.startswith("no draft: no drafter with a known acceptance") for n in plan["notes"])
    # the preset's drafter: both origins named
    rc, out, err = run(capsys, "recommend", "-d", "30s", "--json", "-p", "h100-sxm-qwen2.5-7b")
    notes = json.loads(out)["notes"]
    assert any(n.startswith("draft: Qwen2.5-0.5B-Instruct (the preset's drafter") for n in notes)
    assert "acceptance: assumption of presets.ACCEPTANCE (docs/sources.md)" in notes


def test_predict_takes_the_same_flags(capsys):
    rc, out, err = run(capsys, "predict", "-n", "4", "-k", "4", "--model-config", "llama-3.1-8b", "--gpu", "h100-sxm",
                       "--draft", f"eagle3:{HEAD_ID}", "--acceptance", "length=3.2@K4", "--json")
    assert rc == 0, err
    assert json.loads(out)["draft_len"] == 4


# ---- bad input: exit 2, one line, nothing written --------------------------------------------------------------
BAD = [
    (["--draft", "medusa"], "unknown draft kind 'medusa'; use draft_model:"),
    (["--draft", "4"], "(the draft length is --draft-len / --max-draft-len)"),
    (["--draft", "ngram:x", "--acceptance", "0.5"], "ngram takes no id"),
    (["--draft", "eagle3:x", "--acceptance", "0.8,1.2"], "alpha 1.2 at position 2 must lie in [0, 1]"),
    (["--draft", "eagle3:x", "--acceptance", "-0.1"], "alpha -0.1 at position 1 must lie in [0, 1]"),
    (["--draft", "eagle3:x", "--acceptance", "nan"], "alpha nan at position 1 must lie in [0, 1]"),
    (["--draft", "eagle3:x", "--acceptance", "fast"], "expected per-position alphas"),
    (["--draft", "eagle3:x", "--acceptance", "length=0.5@K4"], "acceptance length 0.5 at K=4 must lie in [1, 5]"),
    (["--draft", "eagle3:x", "--acceptance", "length=5.5@K4"], "acceptance length 5.5 at K=4 must lie in [1, 5]"),
    (["--draft", "eagle3:x", "--acceptance", "length=2.9@K2,2.5@K4"], "the length at K=4 is 2.5: must lie in"),
    (["--draft", "eagle3:x", "--acceptance", "length=2@K0"], "draft length K=0 must be in 1..64"),
    (["--draft", "eagle3:x", "--acceptance", "length=abc"], "expected length=TAU@K"),
    (["--draft", "eagle3:x"], "the acceptance of this drafter on Llama-3.1-8B-Instruct is not known"),
    (["--acceptance", "0.7"], "--acceptance needs --draft KIND"),
    (["--draft", "none", "--acceptance", "0.7"], "--draft none contradicts --acceptance/--draft-config"),
    (["--draft", "draft_model", "--acceptance", "0.7"], "needs the draft's architecture"),
    (["--draft", "draft_model:qwen2.5-0.5b", "--acceptance", "0.7"], "its vocabulary (151936 tokens) is not the"),
    (["--draft", "draft_model:llama-3.1-70b", "--acceptance", "0.7"], "is not smaller than the target"),
    (["--draft-config", "/nonexistent/config.json", "--acceptance", "0.7"], "/nonexistent/config.json"),
    (["--tp", "3"], "--tp 3: must divide the model's 32 attention heads"),
    (["--gpu", "a100-40gb", "--weight-dtype", "fp8"], "NVIDIA A100 SXM4 40GB has no fp8 tensor cores"),
    (["--gpu", "a10g", "--weight-dtype", "fp8"], "has no fp8 tensor cores"),
]


@pytest.mark.parametrize("flags,needle", BAD)
def test_bad_draft_and_deployment_flags(capsys, tmp_path, flags, needle):
    base = {"--model-config": "llama-3.1-8b", "--gpu": "h100-sxm"}
    argv = [x for kv in base.items() if kv[0] not in flags for x in kv] + list(flags)
    out = tmp_path / "p.json"
    rc, _, err = run(capsys, "profiles", "derive", *argv, "-o", out)
    assert_contract(rc, err, needle)
    assert list(tmp_path.iterdir()) == []


def test_another_tokenizer_by_its_token_ids(capsys, tmp_path):
    target = write(tmp_path, "t", LLAMA8B)
    other = write(tmp_path, "d", {**LLAMA1B, "bos_token_id": 1, "eos_token_id": 2})   # same vocab size, not Llama 3
    rc, _, err = run(capsys, "profiles", "derive", "--gpu", "h100-sxm", "--model-config", target, "--draft-config",
                     other, "--acceptance", "0.7", "-o", tmp_path / "p.json")
    assert_contract(rc, err, "bos_token_id 1 differs from the target's 128000: another tokenizer")
    head = write(tmp_path, "h", {**EAGLE3_HEAD, "hidden_size": 5120})
    rc, _, err = run(capsys, "profiles", "derive", "--gpu", "h100-sxm", "--model-config", target, "--draft",
                     "eagle3:x", "--draft-config", head, "--acceptance", "0.7", "-o", tmp_path / "p.json")
    assert_contract(rc, err, "hidden_size 5120 is not the target's 4096")
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("cmd", [["recommend", "-d", "30s"], ["predict", "-n", "4"], ["predict", "--tpot"],
                                 ["profiles", "derive"]])
def test_tp_not_dividing_the_heads_on_every_command(capsys, tmp_path, cmd):
    rc, out, err = run(capsys, *cmd, "--model-config", "qwen2.5-7b", "--gpu", "h100-sxm", "--tp", "8",
                       "-o" if cmd[0] != "predict" else "--json", *([tmp_path / "x.json"] if cmd[0] != "predict"
                                                                   else []))
    assert_contract(rc, err, "--tp 8: must divide the model's 28 attention heads; choose one of 1, 2, 4, 7, 14, 28")
    assert out == "" and list(tmp_path.iterdir()) == []


def test_quantisation_formats_per_gpu():
    """fp8 weights only where the datasheet lists fp8 tensor cores (not Ampere: A100, A10G); int4 weight-only
    and an fp8 KV cache (a storage format) are fine everywhere."""
    from planner.errors import PlannerError

    for key, gpu in P.GPUS.items():
        if gpu.get("fp8_tflops"):
            derive_profile(key, "qwen2.5-1.5b", weight_dtype="fp8")
        else:
            with pytest.raises(PlannerError, match="has no fp8 tensor cores"):
                derive_profile(key, "qwen2.5-1.5b", weight_dtype="fp8")
        derive_profile(key, "qwen2.5-1.5b", weight_dtype="int4", kv_dtype="fp8")
    assert sorted(k for k, g in P.GPUS.items() if not g.get("fp8_tflops")) == ["a100-40gb", "a100-80gb", "a10g"]


@pytest.mark.parametrize("engine", ["vllm", "trtllm"])
def test_tree_wider_than_the_engine_drafts(capsys, tmp_path, engine):
    d = derive_profile("h100-sxm", "llama-3.1-8b", draft=f"eagle3:{HEAD_ID}", acceptance="0.7")
    d["draft"]["tree"] = {"topk": 4, "tokens": 15}
    (tmp_path / "tree.json").write_text(json.dumps(d))
    rc, _, err = run(capsys, "recommend", "-p", tmp_path / "tree.json", "-d", "30s", "--engine", engine, "-o",
                     tmp_path / "plan.json")
    assert_contract(rc, err, f"draft.tree.topk 4 is wider than {engine} drafts")
    assert not (tmp_path / "plan.json").exists()
    d["draft"]["tree"] = {"topk": 65}
    (tmp_path / "tree.json").write_text(json.dumps(d))
    rc, _, err = run(capsys, "recommend", "-p", tmp_path / "tree.json", "-d", "30s", "-o", tmp_path / "plan.json")
    assert_contract(rc, err, "draft.tree.topk must be an integer in [1, 64]")
