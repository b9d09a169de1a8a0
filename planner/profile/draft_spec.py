"""Profile sections of speculation: the drafter (a draft model, n-gram lookup, or an EAGLE/EAGLE-3/MTP head,
optionally as a tree) and its per-position acceptance (measured, or converted from published lengths)."""

from __future__ import annotations

from dataclasses import dataclass

from planner.profile.accept_length import alpha_from_lengths
from planner.profile.reader import _Reader
from planner.profile.sections import ModelArch, StepCoeffs

DRAFT_KINDS = ("model", "ngram", "eagle", "eagle3", "mtp", "none")
# priced: the latency model adds the drafter's steps (its architecture on step.draft or the target's
# coefficients); in_step: the drafter's cost is already inside the fitted target step (endpoint calibration of a
# server that speculates on every request), so its rounds are priced as a verify step alone.
DRAFT_COSTS = ("priced", "in_step")
HEAD_KINDS = ("eagle", "eagle3", "mtp")  # trained heads on the target's hidden states (planner/model/drafts.py)


@dataclass(frozen=True)
class HeadSpec:
    """A draft head (EAGLE, EAGLE-3, MTP): decoder layers at the target's hidden size on its hidden states."""

    layers: int = 1
    draft_vocab: int | None = None  # LM-head rows (EAGLE-3 heads often 32000); absent: the target's vocab
    params: float | None = None     # the head's own parameter count, when its config gives it
    hf_id: str | None = None        # the checkpoint the engines load (vLLM `model`, SGLang draft path)

    @staticmethod
    def read(r: _Reader | None) -> "HeadSpec":
        if r is None:
            return HeadSpec()
        return HeadSpec(r.int_("layers", 1), r.int_("draft_vocab", None), r.num("params", None, positive=True),
                        r.str_("hf_id", None))


@dataclass(frozen=True)
class TreeSpec:
    """A tree draft: top-k children per node at each depth (one number: every depth) and a budget of draft
    tokens per round (absent: the full tree); the verify step checks tokens + 1 positions."""

    topk: tuple[int, ...] = (1,)
    tokens: int | None = None

    @staticmethod
    def read(r: _Reader | None) -> "TreeSpec | None":
        if r is None:
            return None
        raw = r.d.get("topk")
        ks = [raw] if not isinstance(raw, list) else raw
        if raw is None or not ks or any(isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 64
                                        for k in ks):
            r.fail("topk", f"must be an integer in [1, 64] or a list of them (one per depth), got {raw!r}")
        return TreeSpec(tuple(ks), r.int_("tokens", None))


@dataclass(frozen=True)
class DraftSpec:
    kind: str                   # model | ngram | eagle | eagle3 | mtp | none
    name: str | None = None
    arch: ModelArch | None = None
    step: StepCoeffs | None = None  # step time of the draft model / head (head absent: the target's); ngram ~0
    head: HeadSpec | None = None    # eagle | eagle3 | mtp
    tree: TreeSpec | None = None    # absent: a chain of K drafts
    cost: str = "priced"            # in_step: measured inside the target's fitted step (DRAFT_COSTS)

    @staticmethod
    def read(r: _Reader | None, step: _Reader) -> "DraftSpec":
        if r is None:
            return DraftSpec("none")
        kind = r.str_("kind", choices=DRAFT_KINDS)
        cost = r.str_("cost", "priced", choices=DRAFT_COSTS)
        priced = cost == "priced"  # a drafter measured inside the step needs no architecture of its own
        arch = ModelArch.read(r.sub("arch")) if kind == "model" and (priced or r.has("arch")) else None
        coeffs = StepCoeffs.read(step.sub("draft")) if (kind == "model" and priced) or (
            kind in (*HEAD_KINDS, "model") and step.has("draft")) else None
        head = HeadSpec.read(r.sub("head", optional=True)) if kind in HEAD_KINDS else None
        tree = TreeSpec.read(r.sub("tree", optional=True))
        if tree is not None and kind in ("ngram", "none"):
            r.fail("tree", f"needs a drafter that scores candidates (model, eagle, eagle3, mtp), not {kind!r}")
        name = r.str_("name", arch.name if arch else (head.hf_id if head and head.hf_id else kind))
        return DraftSpec(kind, name, arch, coeffs, head, tree, cost)


@dataclass(frozen=True)
class Acceptance:
    """alpha[i-1] = P(draft token i accepted | tokens 1..i-1 accepted), at `temperature`."""

    temperature: float
    alpha: tuple[float, ...]
    ci_low: tuple[float, ...] | None = None
    ci_high: tuple[float, ...] | None = None
    draft_rate: float = 1.0  # share of decode rounds that carry a draft (n-gram lookups can find no match)
    # K -> alpha_1..alpha_K measured in rounds of exactly K drafts. Acceptance can depend on K when the text
    # has a rhythm that rounds of K+1 tokens fall into (the miniature world's chains; code indentation); where
    # a K was measured on its own, its tokens per round come from here, other K from `alpha`.
    by_draft_len: dict | None = None

    @staticmethod
    def read(r: _Reader | None) -> "Acceptance | None":
        if r is None:
            return None
        if r.has("length") and not r.has("alpha"):  # published acceptance lengths {K: tau} -> alpha
            sub = r.sub("length")
            taus = {}
            for key in sub.d:
                if not (key.isascii() and key.isdigit()) or not 1 <= int(key) <= 64:
                    sub.fail(key, "must be a draft length K in 1..64 (the key of a published acceptance length)")
                taus[int(key)] = sub.num(key, lo=1.0, hi=65.0)
            if not taus:
                r.fail("length", "must give at least one {K: acceptance length}")
            alpha = tuple(alpha_from_lengths(taus, sub.fail))
        else:
            alpha = tuple(r.nums("alpha", lo=0.0, hi=1.0))
        lo = r.nums("ci_low", None, lo=0.0, hi=1.0)
        hi = r.nums("ci_high", None, lo=0.0, hi=1.0)
        by_k = None
        if r.has("by_draft_len"):
            sub = r.sub("by_draft_len")
            by_k = {}
            for key in sub.d:
                if not (key.isascii() and key.isdigit()) or int(key) < 1:
                    sub.fail(key, "must be a draft length (a positive integer)")
                a = sub.nums(key, lo=0.0, hi=1.0)
                if len(a) != int(key):
                    sub.fail(key, f"must list {key} acceptance rates (one per draft position), got {len(a)}")
                by_k[int(key)] = tuple(a)
        return Acceptance(r.num("temperature", nonneg=True), alpha, tuple(lo) if lo else None,
                          tuple(hi) if hi else None, r.num("draft_rate", 1.0, lo=0.0, hi=1.0), by_k or None)
