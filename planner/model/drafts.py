"""Draft kinds the engines run today: trained heads (EAGLE, EAGLE-3, MTP) and tree drafts.

Why: a chain of a separate small model is the rare case; vLLM, SGLang and TensorRT-LLM users run a head of one
or a few decoder layers on the target's hidden states, often drafting a tree. The latency model needs what one
draft step of such a head reads and computes, and the expected tokens a tree round gains.

Head cost: `layers` decoder layers at the target's hidden size (each priced as one of the target's layers,
(params - 2 * vocab * hidden) / layers, unless the head's own `params` are given), the input projection fc of
`fc_inputs` x hidden -> hidden (EAGLE: embedding + feature = 2; EAGLE-3: three fused feature layers = 3; MTP:
embedding + hidden state = 2) and the LM head over the draft vocabulary that every draft step runs. The
target's embedding lookup is one row per token and is not charged.

Tree acceptance (docs/profile.md, "Tree drafts"): a node at depth d that is the r-th candidate of its parent
is accepted, given its parent was and its r - 1 elder siblings were not, with probability alpha_d (siblings
independent, as in multi-draft rejection sampling). So P(node on the accepted path) = prod over its path of
alpha_j (1 - alpha_j)^(r_j - 1), and tau = 1 + sum of that over the tree's nodes. The tree kept under a token
budget is the most probable part of the candidate pool (EAGLE-2/SGLang rerank by path confidence).
The candidates are EAGLE-2's / SGLang's: top-k beams per depth, k children each. A tree of top-1 at every depth
is the chain: tau = 1 + sum_d prod_{j<=d} alpha_j."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
import numpy as np

from planner.profile.presets import SPECULATION
from planner.profile.schema import DraftSpec, ModelArch, StepCoeffs

HEAD_KINDS = ("eagle", "eagle3", "mtp")
FC_INPUTS = {"eagle": 2, "eagle3": 3, "mtp": 2}
MAX_TREE_NODES = 4096   # no engine verifies more draft tokens per row in one step


def target_layer_params(target: ModelArch) -> float:
    """Parameters of one decoder layer of the target: all but the embedding and LM head, per layer (an untied
    LM head assumed; where that leaves nothing, 12 h^2, the dense-transformer layer)."""
    per = (target.params - 2.0 * target.vocab * target.hidden) / target.layers
    return per if per > 0 else 12.0 * target.hidden ** 2


def head_arch(target: ModelArch, draft: DraftSpec) -> ModelArch:
    """A head as a ModelArch the roofline step model prices: the weights one draft step reads (its layers, fc,
    LM head), its own KV cache (`layers` layers of the target's attention shape)."""
    h = draft.head
    vocab = h.draft_vocab or target.vocab
    params = h.params if h.params is not None else (
        h.layers * target_layer_params(target) + FC_INPUTS[draft.kind] * target.hidden ** 2 + vocab * target.hidden)
    return ModelArch(draft.name or draft.kind, params, h.layers, target.hidden, target.heads, target.kv_heads,
                     target.head_dim, vocab, target.dtype_bytes, h.hf_id, target.max_context,
                     kv_dtype=target.kv_dtype)


def draft_arch(target: ModelArch, draft: DraftSpec) -> ModelArch | None:
    """What a draft step runs: the draft model, a head, or nothing (n-gram lookup, no draft, or a drafter whose
    cost is measured inside the target's fitted step: draft.cost in_step)."""
    if draft.cost == "in_step":
        return None
    if draft.kind == "model":
        return draft.arch
    if draft.kind in HEAD_KINDS:
        return head_arch(target, draft)
    return None


def head_coeffs(target: StepCoeffs, kind: str = "eagle") -> StepCoeffs:
    """Step coefficients of a head the profile gives none for: the target's (same device and kernels), with the
    per-step launch cost of a draft step run inside the engine step (presets.SPECULATION draft_t0_s, fitted on
    vLLM's EAGLE TPOT table, docs/sources.md) instead of a whole engine step's t0, and no verify overhead. An
    EAGLE-3 step adds SPECULATION eagle3_step_s: published EAGLE-3 rounds cost more than their weights explain
    (fitted on the train split's EAGLE-3 point, docs/validation.md "Speculation x batch")."""
    t0 = SPECULATION["draft_t0_s"]["value"] + (SPECULATION["eagle3_step_s"]["value"] if kind == "eagle3" else 0.0)
    return replace(target, t0_s=t0, verify_s=None)


def _branching(topk, depth: int) -> list[int]:
    ks = list(topk) if isinstance(topk, (tuple, list)) else [int(topk)]
    return [int(ks[min(d, len(ks) - 1)]) for d in range(depth)]


def tree_nodes(alpha, depth: int, topk, budget: int | None = None) -> list[tuple[tuple[int, ...], float]]:
    """The drafted tree: up to `budget` nodes (all of the candidate pool when None), each as (ranks along its
    path, P(on the accepted path)), in non-increasing probability. The pool is what EAGLE-2 / SGLang draft: the
    root's top-k[0] children; at each further depth d the k[d] most probable nodes (beams) expand k[d] children
    each; the budget keeps the most probable nodes of the pool (a closed tree: a parent and an elder sibling are
    at least as probable, ties broken toward them)."""
    ks = _branching(topk, depth)
    a = np.asarray(alpha, dtype=float)
    a = np.concatenate([a, np.full(max(0, depth - len(a)), a[-1] if len(a) else 0.0)])
    pool: list = []
    level = [((), 1.0)]
    for d in range(depth):
        if d > 0:  # beams: the most probable nodes of the previous depth
            level = sorted(level, key=lambda n: (-n[1], n[0]))[:ks[d]]
        level = [(path + (r,), prob * a[d] * (1.0 - a[d]) ** (r - 1)) for path, prob in level
                 for r in range(1, ks[d] + 1)]
        pool += level
    pool.sort(key=lambda n: (-n[1], len(n[0]), n[0]))
    return pool[:min(len(pool), budget if budget is not None else len(pool), MAX_TREE_NODES)]


def tree_tau(alpha, depth: int, topk, budget: int | None = None) -> float:
    """Expected tokens per round of a tree draft: 1 (the verify step's own token) + expected accepted drafts."""
    return 1.0 + sum(p for _, p in tree_nodes(alpha, depth, topk, budget))


def pool_size(depth: int, topk) -> int:
    """Candidates a tree draft of this depth scores: k[0], then per depth min(k[d], nodes above) beams x k[d]
    children (uniform k: k + (depth - 1) k^2);
    SGLang's --speculative-num-draft-tokens may not exceed this + 1."""
    ks, total, level = _branching(topk, depth), 0, 1
    for d, k in enumerate(ks):
        level = (min(k, level) if d > 0 else 1) * k
        total += level
    return total


def tree_size(depth: int, topk, budget: int | None = None) -> int:
    """Draft tokens in the tree; the verify step's query width is this + 1 (the root, the last accepted token)."""
    full = pool_size(depth, topk)
    return min(full, budget if budget is not None else full, MAX_TREE_NODES)


def round_shape(draft: DraftSpec, alpha, K) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per depth K: (tau, verify query width, query width of draft steps 2..K). A chain: tau from alpha,
    width K + 1, 1. A tree: from the best-first tree; step 1 drafts from the root, later steps expand top-k
    beams (EAGLE-2 / SGLang), so their width is the tree's largest top-k."""
    K = np.asarray(K, dtype=int)
    tree, key = draft.tree, tuple(float(x) for x in np.asarray(alpha, dtype=float))
    taus = np.array([_tau_cached(key, int(k), tree.topk, tree.tokens) for k in K.ravel()]).reshape(K.shape)
    width = np.array([tree_size(int(k), tree.topk, tree.tokens) + 1 for k in K.ravel()]).reshape(K.shape)
    beams = float(max(_branching(tree.topk, 1)))
    return taus, width.astype(float), np.where(K > 1, beams, 1.0)


@lru_cache(maxsize=256)
def _tau_cached(alpha: tuple, depth: int, topk: tuple, budget: int | None) -> float:
    return tree_tau(alpha, depth, topk, budget)
