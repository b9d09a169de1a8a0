"""Training smoke test: the script runs end to end, writes loadable models, and is bit-reproducible."""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tools.miniworld import train  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.engine]


def test_a_few_steps_write_loadable_models(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert train.main(["--out", str(tmp_path), "--quick", "--steps", "3"]) == 0
    log = json.loads((tmp_path / "train_log.json").read_text())
    assert set(log["models"]) == {"target", "draft"}
    assert log["models"]["target"]["params"] > log["models"]["draft"]["params"]
    tok = AutoTokenizer.from_pretrained(tmp_path)
    for name in ("target", "draft"):
        m = AutoModelForCausalLM.from_pretrained(tmp_path / name)
        assert m.dtype == torch.float32
        logits = m(**tok("Q:1+2=", return_tensors="pt")).logits
        assert logits.shape[-1] == len(tok) and torch.isfinite(logits).all()


def test_training_is_bit_reproducible(tmp_path):
    for run in ("a", "b"):
        assert train.main(["--out", str(tmp_path / run), "--only", "draft", "--steps", "4"]) == 0
    a = (tmp_path / "a" / "draft" / "model.safetensors").read_bytes()
    b = (tmp_path / "b" / "draft" / "model.safetensors").read_bytes()
    assert a == b


def test_lr_schedule_warms_up_then_decays_to_a_tenth():
    peak, total = 1e-3, 1000
    lrs = [train.lr_at(s, total, peak) for s in range(total)]
    assert lrs[0] < lrs[49] == pytest.approx(peak)
    assert max(lrs) == pytest.approx(peak)
    assert lrs[-1] == pytest.approx(0.1 * peak, rel=0.01)
    assert all(a >= b for a, b in zip(lrs[50:], lrs[51:]))
