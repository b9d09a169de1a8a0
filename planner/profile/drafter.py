"""Which drafter a derived profile gets, and its acceptance: `--draft KIND[:ID]`, `--draft-config FILE`,
`--acceptance A` (docs/profile.md, "Any model from its config.json"), else the preset's own drafter, else none.

Why here: a drafter's acceptance is a property of the (drafter, target) pair, so it is never inherited from
another pair, and a draft model with another tokenizer is refused, not planned. Every number says where it came
from (flag, preset, published length) in the profile's notes, which the plan repeats. Stdlib only."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from planner.errors import PlannerError
from planner.profile import presets as P
from planner.profile.accept_length import alpha_from_lengths
from planner.profile.schema import ModelArch

KINDS = ("draft_model", "ngram", "eagle", "eagle3", "mtp", "none")
HEADS = ("eagle", "eagle3", "mtp")
DRAFT_HELP = "draft_model:<config.json|preset>, ngram, eagle:<HF id>, eagle3:<HF id>, mtp or none"
PAD_ROWS = 1024     # vocab sizes this close are one tokenizer with padded embedding rows (Qwen2.5: 151936/152064)
MAX_ALPHAS = 64
# Published heads of the model presets, with a published acceptance (docs/sources.md, "Published drafters"). Used
# when --draft names that kind (with no id, or this id) and no --acceptance: never a default, since the published
# acceptance was measured on chat prompts, not on the math the plans answer.
PUBLISHED = {
    "llama-3.1-8b": {"eagle3": {
        "hf_id": "yuhuili/EAGLE3-LLaMA3.1-Instruct-8B", "draft_vocab": 32000,
        "length": {2: 2.36, 3: 2.79, 4: 3.08, 5: 3.32, 6: 3.46, 7: 3.54},
        "source": "vllm#20780 (vLLM V1, MT-Bench, batch 1, acceptance-length column at K=2..7, temperature not "
                  "stated; chat, not math)"}},
}
_LEN_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*@\s*[Kk]?\s*([0-9]+)\s*$")


@dataclass
class DraftChoice:
    """The profile's draft section, its architecture (draft models), whether it needs step.draft, the acceptance
    section and the notes/sources that name where each number came from."""

    draft: dict = field(default_factory=lambda: {"kind": "none"})
    arch: ModelArch | None = None
    acceptance: dict | None = None
    notes: list[str] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    preset: str | None = None   # the preset whose drafter and assumed acceptance were taken as they are

    @property
    def label(self) -> str:
        return "no draft" if self.draft["kind"] == "none" else f"{self.draft.get('name', self.draft['kind'])} draft"


def parse_draft(text: str) -> tuple[str, str | None]:
    """'eagle3:yuhuili/EAGLE3-LLaMA3.1-Instruct-8B' -> ('eagle3', id); 'model' is read as draft_model."""
    kind, _, ident = (text or "").strip().partition(":")
    kind = {"model": "draft_model", "draft": "draft_model"}.get(kind.strip().lower(), kind.strip().lower())
    if kind not in KINDS:
        hint = " (the draft length is --draft-len / --max-draft-len)" if kind.isdigit() else ""
        raise PlannerError(f"--draft {text!r}: unknown draft kind {kind!r}; use {DRAFT_HELP}{hint}")
    ident = ident.strip() or None
    if kind in ("ngram", "none") and ident:
        raise PlannerError(f"--draft {text!r}: {kind} takes no id; use --draft {kind}")
    return kind, ident


def parse_acceptance(text: str, temperature: float) -> tuple[dict | None, str]:
    """--acceptance: per-position alphas '0.8,0.7,0.6', published lengths 'length=3.2@K4[,2.6@K2]' (converted by
    accept_length.py's rule), or 'none'. (acceptance section or None for none, origin text)."""
    t = (text or "").strip()
    if t.lower() == "none":
        return None, "none (--acceptance none: no speculation)"
    if t.lower().startswith("length="):
        taus: dict[int, float] = {}
        for part in t[len("length="):].split(","):
            m = _LEN_RE.match(part)
            if not m:
                raise PlannerError(f"--acceptance {text!r}: expected length=TAU@K (e.g. length=3.2@K4: 3.2 tokens per "
                                   "verify round, bonus token included, at draft length 4)")
            tau, k = float(m.group(1)), int(m.group(2))
            if not 1 <= k <= MAX_ALPHAS:
                raise PlannerError(f"--acceptance {text!r}: draft length K={k} must be in 1..{MAX_ALPHAS}")
            if not 1.0 <= tau <= k + 1:
                raise PlannerError(f"--acceptance {text!r}: acceptance length {tau:g} at K={k} must lie in [1, {k + 1}] "
                                   "(tokens per verify round: at least the bonus token, at most K + 1)")
            taus[k] = tau

        def fail(key, msg):
            raise PlannerError(f"--acceptance {text!r}: the length at K={key} {msg}")

        alpha = alpha_from_lengths(taus, fail)
        shown = ", ".join(f"{taus[k]:g} at K={k}" for k in sorted(taus))
        return ({"temperature": temperature, "length": {str(k): taus[k] for k in sorted(taus)}},
                f"published acceptance length {shown} (--acceptance), per-position alpha "
                f"{', '.join(f'{a:.3f}' for a in alpha)} by the rule of docs/profile.md")
    alpha = []
    for i, part in enumerate(t.split(",")):
        try:
            a = float(part)
        except ValueError:
            raise PlannerError(f"--acceptance {text!r}: expected per-position alphas such as 0.8,0.7,0.6, a "
                               "published length=3.2@K4, or none") from None
        if not 0.0 <= a <= 1.0:  # also NaN
            raise PlannerError(f"--acceptance {text!r}: alpha {part.strip()} at position {i + 1} must lie in [0, 1] "
                               "(P(draft token accepted | the ones before it were))")
        alpha.append(a)
    if len(alpha) > MAX_ALPHAS:
        raise PlannerError(f"--acceptance: at most {MAX_ALPHAS} per-position alphas, got {len(alpha)}")
    return {"temperature": temperature, "alpha": alpha}, f"per-position alpha {t} (--acceptance)"


def _draft_model(target: ModelArch, ident: str | None, draft_config: str | None, target_raw: dict | None,
                 weight_dtype: str | None) -> tuple[ModelArch, str, dict | None]:
    """(architecture, where it came from, raw config or None) of a draft_model drafter."""
    from planner.io import read_json
    from planner.profile.hf_config import arch_from_hf_config

    if ident and draft_config:
        raise PlannerError("give the draft model once: --draft draft_model:<config|preset> or --draft draft_model "
                           "--draft-config FILE, not both")
    src = ident or draft_config
    if not src:
        raise PlannerError("--draft draft_model needs the draft's architecture: --draft draft_model:<config.json or "
                           "preset> or --draft-config FILE")
    if src in P.MODELS and not Path(src).exists():
        arch, origin, raw = ModelArch(**P.model_arch_fields(src)), f"preset {src}", None
    else:
        p = Path(src)
        name = p.name if p.is_dir() else (p.parent.resolve().name if p.name == "config.json" else p.stem)
        arch = arch_from_hf_config(src, name=name, weight_dtype=weight_dtype)
        cfg = p / "config.json" if p.is_dir() else p
        raw, origin = read_json(cfg, "draft config"), f"config {src}"
    flag = f"--draft draft_model:{src}" if ident else f"--draft-config {src}"
    if abs(arch.vocab - target.vocab) > PAD_ROWS:
        raise PlannerError(f"{flag}: its vocabulary ({arch.vocab} tokens) is not the target's ({target.vocab}): "
                           "another tokenizer cannot draft for this model; use a draft of the same family, "
                           "--draft ngram, or a head (eagle3:<id>, mtp)")
    for key in ("bos_token_id", "eos_token_id"):
        a, b = (raw or {}).get(key), (target_raw or {}).get(key)
        if a is not None and b is not None and a != b:
            raise PlannerError(f"{flag}: {key} {a} differs from the target's {b}: another tokenizer cannot draft "
                               "for this model; use a draft of the same family, --draft ngram, or a head")
    if arch.params >= target.params:
        raise PlannerError(f"{flag}: the draft ({arch.params / 1e9:.2f} B params) is not smaller than the target "
                           f"({target.params / 1e9:.2f} B): it cannot speed decoding up")
    return arch, origin, raw


def _head(kind: str, ident: str | None, draft_config: str | None, target: ModelArch, target_raw: dict | None) -> dict:
    """A head's draft section: its layers and LM-head rows from its own config.json when given, else one layer
    (MTP: the target's num_nextn_predict_layers when its config says) on the target's vocabulary."""
    from planner import checks
    from planner.io import read_json

    head: dict = {}
    if ident:
        head["hf_id"] = ident
    if draft_config:
        cfg = read_json(Path(draft_config) / "config.json" if Path(draft_config).is_dir() else draft_config,
                        "draft config")
        if not isinstance(cfg, dict):
            raise PlannerError(f"--draft-config {draft_config}: not a JSON object")
        where = f"--draft-config {draft_config}"
        hidden = cfg.get("hidden_size")
        if hidden is not None and hidden != target.hidden:
            raise PlannerError(f"{where}: hidden_size {hidden} is not the target's {target.hidden}: a {kind} head "
                               "reads the target's hidden states, so it must be trained for this model")
        head["layers"] = checks.integer(cfg.get("num_hidden_layers"), f"{where}: num_hidden_layers", lo=1, hi=64,
                                        default=1)
        dv = cfg.get("draft_vocab_size")
        if dv is not None:
            head["draft_vocab"] = checks.integer(dv, f"{where}: draft_vocab_size", lo=1, hi=target.vocab)
    elif kind == "mtp" and isinstance((target_raw or {}).get("num_nextn_predict_layers"), int) \
            and target_raw["num_nextn_predict_layers"] >= 1:
        head["layers"] = int(target_raw["num_nextn_predict_layers"])
    return head


def choose(key: str | None, target: ModelArch, temperature: float, *, draft: str | None = None,
           draft_config: str | None = None, acceptance: str | None = None, target_raw: dict | None = None,
           draft_like: str | None = None) -> DraftChoice:
    """The drafter of a derived profile: the flags', else the preset's own (Qwen2.5 presets: Qwen2.5-0.5B at
    an assumed acceptance), else none (K = 0, said in the notes). `draft_like` borrows a preset's drafter and
    acceptance for latency studies (bench/spec_published.py)."""
    akey = draft_like or key
    preset = P.ACCEPTANCE.get(akey) if akey else None
    kind, ident = parse_draft(draft) if draft else (None, None)
    if draft_config and kind is None:
        kind = "draft_model"
    acc, acc_origin = (parse_acceptance(acceptance, temperature) if acceptance else (None, None))
    if kind == "none" and (acc is not None or draft_config):
        raise PlannerError("--draft none contradicts --acceptance/--draft-config: drop one of them")
    if kind == "none" or (acceptance and acc is None):
        why = "--draft none" if kind == "none" else "--acceptance none"
        return DraftChoice(notes=[f"draft: none ({why}): plans are without speculation"])
    if kind is None and preset is None:
        if acceptance:
            raise PlannerError("--acceptance needs --draft KIND: this model has no known drafter "
                               f"({DRAFT_HELP})")
        return DraftChoice(notes=["no draft: no drafter with a known acceptance for this model, so plans are "
                                  "without speculation (K = 0): name one with --draft KIND[:ID] --acceptance A"])
    out = DraftChoice()
    from_preset = False
    if kind is None or (kind == "draft_model" and not draft_config and ident and ident == P.DRAFT_FOR.get(akey)):
        d = ModelArch(**P.model_arch_fields(P.DRAFT_FOR[akey]))
        out.draft, out.arch = {"kind": "model", "name": d.name}, d
        origin = "the preset's drafter" if kind is None else f"--draft draft_model:{ident} (preset)"
        out.notes.append(f"draft: {d.name} ({origin}, same tokenizer family: docs/sources.md)")
        if acc is None:
            acc, acc_origin = ({"temperature": preset["temperature"], "alpha": preset["alpha"]},
                               "assumption of presets.ACCEPTANCE (docs/sources.md)")
            from_preset, out.preset = True, akey
    elif kind == "draft_model":
        d, origin, _ = _draft_model(target, ident, draft_config, target_raw, None)
        out.draft, out.arch = {"kind": "model", "name": d.name}, d
        out.notes.append(f"draft: {d.name} from {origin} (--draft)")
    elif kind == "ngram":
        out.draft = {"kind": "ngram", "name": "ngram"}
        out.notes.append("draft: n-gram prompt lookup (--draft ngram)")
        if acc is None and preset is not None and "ngram" in preset:
            acc, acc_origin = ({"temperature": preset["temperature"], "alpha": preset["ngram"]["alpha"]},
                               "assumption of presets.ACCEPTANCE ngram (docs/sources.md)")
    else:
        pub = PUBLISHED.get(key or "", {}).get(kind)
        if pub and ident in (None, pub["hf_id"]) and not draft_config:
            ident = pub["hf_id"]
            if acc is None:
                taus = ",".join(f"{t:g}@K{k}" for k, t in pub["length"].items())
                acc, how = parse_acceptance(f"length={taus}", temperature)
                acc_origin = f"published: {pub['source']}, {how.split(' (--acceptance), ')[1]}"
        head = _head(kind, ident, draft_config, target, target_raw)
        if pub and ident == pub["hf_id"] and not draft_config:
            head["draft_vocab"] = pub["draft_vocab"]
        out.draft = {"kind": kind, "name": ident or f"{kind} head", "head": head}
        shape = f"{head.get('layers', 1)} layer(s), LM head over {head.get('draft_vocab', target.vocab)} rows"
        out.notes.append(f"draft: {kind} head {ident or '(no checkpoint id: MTP layers of the target)'}, {shape} "
                         f"({'--draft-config' if draft_config else 'priced from the target architecture'})")
    if acc is None:
        raise PlannerError(f"--draft {draft}: the acceptance of this drafter on {target.name} is not known: give "
                           "--acceptance (per-position alphas 0.8,0.7,0.6 or a published length=3.2@K4)")
    out.acceptance = acc
    out.notes.append(f"acceptance: {acc_origin}")
    if not from_preset:  # the preset's own row (derive.py) names its anchors
        out.sources.append({"what": f"acceptance of the {out.draft.get('name')} draft per position",
                            "value": str(acc.get("alpha") or acc.get("length")), "source": acc_origin})
    return out
