"""Golden files: every example plan rendered for every engine (newest mapping) and for the older mappings
whose keys differ. A diff here means the exported command changed; if that is intended, regenerate with
`UPDATE_GOLDEN=1 python -m pytest tests/unit/test_export_golden.py` and review the diff of tests/golden/export/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from planner.export import ENGINES, export_plan, render
from planner.plan import load_plan

GOLDEN = Path(__file__).parents[1] / "golden" / "export"
PLANS = sorted(p.stem for p in (GOLDEN / "plans").glob("*.json"))
# (plan, engine, version) renderings whose older key names deserve their own golden file.
OLDER = [("draft_k4", "vllm", "0.6"), ("ngram_k3", "vllm", "0.6"), ("ngram_k3", "sglang", "0.5.9"),
         ("draft_k4", "trtllm", "1.0"), ("ngram_k3", "trtllm", "1.0"), ("eagle3_k3", "trtllm", "1.0"),
         ("eagle3_tree", "sglang", "0.5.1"), ("mtp_k1", "sglang", "0.5.1")]


# Plans only some engines can express (a top-k tree: vLLM and this TRT-LLM exporter draft chains; the others
# refuse it, tests/unit/test_drafts.py).
ONLY = {"eagle3_tree": ("sglang",)}


def _cases():
    for plan in PLANS:
        for engine in ONLY.get(plan, ENGINES):
            for fmt in ("args", "json") + (("yaml",) if engine == "trtllm" else ()):
                yield plan, engine, None, fmt
    for plan, engine, version in OLDER:
        yield plan, engine, version, "json"


def _golden_path(plan, engine, version, fmt) -> Path:
    suffix = f"@{version}" if version else ""
    ext = {"args": "sh", "json": "json", "yaml": "yaml"}[fmt]
    return GOLDEN / engine / f"{plan}{suffix}.{ext}"


def test_fixture_plans_present():
    assert set(PLANS) >= {"no_spec", "draft_k4", "ngram_k3", "tp2", "best_of_n"}


@pytest.mark.parametrize("plan,engine,version,fmt", list(_cases()),
                         ids=lambda x: str(x) if x is not None else "newest")
def test_golden(plan, engine, version, fmt):
    text = render(export_plan(load_plan(str(GOLDEN / "plans" / f"{plan}.json")), engine, version), fmt)
    path = _golden_path(plan, engine, version, fmt)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{path} differs (UPDATE_GOLDEN=1 to accept)"


def test_no_stale_golden_files():
    expected = {_golden_path(*c) for c in _cases()}
    actual = {p for e in ENGINES for p in (GOLDEN / e).glob("*") if p.is_file()}
    assert actual <= expected, f"golden files no test produces: {sorted(map(str, actual - expected))}"
