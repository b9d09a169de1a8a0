"""The ragged KV cache must give the same logits as a plain full-sequence forward, whatever the per-row
lengths, rollbacks, row removals, capacity growth or attention implementation."""

import pytest

from conftest import needs_torch

pytestmark = needs_torch


def _full(model, ids):
    import torch

    with torch.inference_mode():
        return model(torch.tensor([ids])).logits[0]


def test_incremental_forward_equals_full_forward(tiny_qwen2):
    import torch

    from planner.engine.forward import forward_step, new_cache

    m = tiny_qwen2(seed=0)
    ids = torch.randint(0, 64, (40,), generator=torch.Generator().manual_seed(1)).tolist()
    full = _full(m, ids)
    cache = new_cache(m, 1, "cpu", capacity=16)  # forces two capacity doublings
    got, i = [], 0
    with torch.inference_mode():
        for w in (7, 1, 3, 1, 12, 16):
            got.append(forward_step(m, cache, torch.tensor([ids[i:i + w]]))[0])
            i += w
    assert i == 40 and cache.capacity >= 40
    assert torch.allclose(torch.cat(got), full, atol=1e-4)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_rows_with_different_lengths_rollback_and_select(tiny_qwen2, attn):
    import torch

    from planner.engine.forward import forward_step, new_cache

    m = tiny_qwen2(seed=3, layers=3)
    m.set_attn_implementation(attn)
    try:
        ids = torch.randint(0, 64, (20,), generator=torch.Generator().manual_seed(2)).tolist()
        full = _full(m, ids)
        with torch.inference_mode():
            c = new_cache(m, 1, "cpu", capacity=16)
            assert (c.float_mask_dtype is None) == (attn == "sdpa")
            forward_step(m, c, torch.tensor([ids[:5]]))
            c.repeat_rows(3)
            # rows feed 2, 1 and 3 real tokens (right-padded with junk token 63)
            inp = torch.tensor([ids[5:7] + [63], ids[5:6] + [63, 63], ids[5:8]])
            lg = forward_step(m, c, inp, n_real=[2, 1, 3])
            assert c.lengths == [7, 6, 8]
            assert torch.allclose(lg[0, :2], full[5:7], atol=1e-4)
            assert torch.allclose(lg[1, :1], full[5:6], atol=1e-4)
            assert torch.allclose(lg[2], full[5:8], atol=1e-4)
            c.set_lengths([6, 6, 6])  # roll rows 0 and 2 back
            lg = forward_step(m, c, torch.tensor([ids[6:9]] * 3), logits_at=torch.tensor([[2], [1], [0]]))
            assert lg.shape[:2] == (3, 1)
            for row, pos in ((0, 8), (1, 7), (2, 6)):
                assert torch.allclose(lg[row, 0], full[pos], atol=1e-4)
            c.select([2, 0])  # row 1 leaves; the buffers shrink with it
            assert c.batch_size == 2 and c.layers[0].buf_k.shape[0] == 2
            lg = forward_step(m, c, torch.tensor([[ids[9]], [ids[9]]]))
            assert torch.allclose(lg[:, 0], full[9].expand(2, -1), atol=1e-4)
    finally:
        m.set_attn_implementation("sdpa")


def test_seqstate_sync_rolls_back_to_common_prefix(tiny_qwen2):
    import torch

    from planner.engine.state import SeqState

    m = tiny_qwen2(seed=0)
    s = SeqState(m, "cpu", 1)
    with torch.inference_mode():
        s.feed([[5, 6, 7]])
        s.fan_out(2)
        s.feed([[8, 9, 10], [8, 11]])
    assert s.fed == [[5, 6, 7, 8, 9, 10], [5, 6, 7, 8, 11]]
    pending = s.sync([[5, 6, 7, 8, 9, 12, 13], [5, 6, 7, 8, 11]])
    # row 0 keeps 5 tokens (12 differs from 10), row 1 keeps all but its last token (its prediction is needed)
    assert pending == [[12, 13], [11]]
    assert s.cache.lengths == [5, 4]
    s.select([1])
    assert s.fed == [[5, 6, 7, 8]] and s.cache.lengths == [4]


def test_unsupported_attention_layout_is_rejected(tiny_qwen2):
    from planner.engine.forward import check_supported
    from planner.errors import PlannerError

    m = tiny_qwen2(seed=0)
    saved = m.config.layer_types
    m.config.layer_types = ["full_attention", "sliding_attention"]
    try:
        with pytest.raises(PlannerError, match="sliding_attention"):
            check_supported(m)
    finally:
        m.config.layer_types = saved
