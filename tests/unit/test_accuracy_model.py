"""AccuracyModel.table: parametric and bank models built from a profile's AccuracySpec, deadline cuts, the
n <= M exact / n > M bootstrap split, caching and input errors."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from planner.accuracy import bootstrap as boot
from planner.accuracy import estimators as est
from planner.accuracy import parametric as par
from planner.accuracy.bank import load_bank, save_bank
from planner.accuracy.model import BankAccuracyModel, build_accuracy_model
from planner.errors import PlannerError
from planner.profile.schema import AccuracySpec

DATA = Path(__file__).parents[1] / "data"
QWEN = DATA / "qwen_math_cot_5.jsonl"
FQ = np.array([0.0, 0.1, 0.3, 0.5, 0.8, 1.0])


@pytest.fixture(scope="module")
def bank_model():
    return build_accuracy_model(AccuracySpec("bank", bank_path=QWEN.name, bank_format="qwen-math"),
                                base_dir=DATA)


def test_parametric_table_is_binomial_mix_of_majority():
    # independent lengths and no length-correctness link: the voter count is Bin(n, f), exactly
    model = build_accuracy_model(AccuracySpec("parametric", beta_a=2.0, beta_b=0.8, wrong_mode_share=0.5,
                                              difficulty_length_corr=0.0, wrong_length_shift=0.0, sample_size=200))
    assert model.methods == ("majority",) and model.bank_lengths() is None
    acc, se = model.table("majority", 256, FQ)
    assert acc.shape == se.shape == (len(FQ), 256)
    # standard error of a benchmark of 200 problems at that accuracy (hand formula)
    assert se[-1, 0] == pytest.approx(np.sqrt((2.0 / 2.8) * (0.8 / 2.8) / 200), rel=1e-12)
    assert np.all(se[0] == 0)
    curve = par.majority_curve(2.0, 0.8, 0.5, 256)
    np.testing.assert_allclose(acc[-1], curve[1:], atol=1e-12)
    assert np.all(acc[0] == 0)
    n = 12
    assert acc[2, n - 1] == pytest.approx(stats.binom.pmf(np.arange(n + 1), n, 0.3) @ curve[:n + 1], abs=1e-12)
    assert acc[-1, 0] == pytest.approx(2.0 / 2.8)
    # majority accuracy rises with voters for this (typical) prior, so any deadline cut can only lose
    assert np.all(np.diff(curve[1:]) >= -1e-12)
    assert np.all(np.diff(acc, axis=0) >= -1e-12)
    assert model.describe()["mean_pass1"] == pytest.approx(2.0 / 2.8)


def test_bank_model_exact_then_bootstrap(bank_model):
    bank = bank_model.bank
    assert bank_model.methods == ("majority", "best_of_n", "weighted_majority")
    lengths = bank_model.bank_lengths()
    assert lengths.shape == (40,) and not lengths.flags.writeable
    thr = np.quantile(lengths, FQ, method="inverted_cdf")
    for method in bank_model.methods + ("pass",):
        acc, se = bank_model.table(method, 20, FQ)
        assert acc.shape == (len(FQ), 20)
        for t, f in enumerate(FQ):
            fin = bank.num_tokens <= (thr[t] if 0 < f < 1 else (np.inf if f >= 1 else -np.inf))
            for n in (1, 5, 8):
                ref = est.per_problem(method, bank, n, fin)
                assert acc[t, n - 1] == pytest.approx(ref.mean(), abs=1e-12)
                assert se[t, n - 1] == pytest.approx(ref.std(ddof=1) / np.sqrt(5), abs=1e-12)
            for n in (9, 20):   # extrapolation: same seed and replicates as the model's
                assert acc[t, n - 1] == pytest.approx(boot.bootstrap_per_problem(method, bank, n, fin).mean(),
                                                      abs=1e-12)
        assert np.all(acc[0] == 0)
        assert acc[-1, 0] == pytest.approx(21 / 40)


def test_bank_deadline_cut_never_helps_pass(bank_model):
    acc, _ = bank_model.table("pass", 64, np.linspace(0, 1, 21))
    assert np.all(np.diff(acc, axis=0) >= -1e-12)
    # and with no cut pass@n rises with n (exact part; the bootstrap may dip below pass@M at M+1)
    assert np.all(np.diff(acc[-1, :8]) >= -1e-12) and np.all(np.diff(acc[-1, 8:]) >= -1e-12)


def test_bank_cut_removes_long_samples_first(bank_model):
    """At a cut that finishes only short samples, accuracy equals the estimator over those samples."""
    bank = bank_model.bank
    lengths = np.sort(bank.num_tokens)
    cut = lengths[19]  # the 20th shortest: quantile 0.5 (inverted CDF)
    acc, _ = bank_model.table("majority", 8, [0.5])
    assert acc[0, 7] == pytest.approx(est.majority_at_n(bank, 8, bank.num_tokens <= cut).mean)
    assert acc[0, 7] < bank_model.table("majority", 8, [1.0])[0][0, 7]


def test_length_quantile_fn_overrides_bank_quantiles():
    bank = load_bank(QWEN, "qwen-math")
    model = BankAccuracyModel(bank, length_quantile_fn=lambda q: np.full(len(q), 600.0))
    acc, _ = model.table("majority", 8, [0.5])
    assert acc[0, 7] == pytest.approx(est.majority_at_n(bank, 8, bank.num_tokens <= 600).mean)


def test_tts_bank_format_and_relative_path(tmp_path):
    save_bank(load_bank(QWEN, "qwen-math"), tmp_path / "bank.jsonl")
    model = build_accuracy_model(AccuracySpec("bank", bank_path="bank.jsonl"), base_dir=tmp_path)
    assert model.bank.meta["format"] == "tts-bank"
    assert model.accuracy("best_of_n", 8)[0] == pytest.approx(3 / 5)


def test_bank_without_scores_offers_majority_only(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"problem_id": "a", "samples": [{"answer": "1", "correct": true, "num_tokens": 3}, '
                    '{"answer": "2", "correct": false, "num_tokens": 9}]}\n')
    model = build_accuracy_model(AccuracySpec("bank", bank_path=str(path)))
    assert model.methods == ("majority",)
    with pytest.raises(PlannerError, match="'best_of_n' is not available"):
        model.table("best_of_n", 4, [1.0])
    acc, _ = model.table("majority", 3, [1.0])
    # M = 2: maj@1 = maj@2 = 1/2 (1-1 tie); n = 3 with replacement: majority of 3 draws = 1/2 by symmetry
    np.testing.assert_allclose(acc[0], [0.5, 0.5, 0.5], atol=1e-12)


def test_cache_and_read_only(bank_model):
    a1, s1 = bank_model.table("majority", 16, FQ)
    a2, s2 = bank_model.table("majority", 16, list(FQ))
    assert a1 is a2 and s1 is s2 and not a1.flags.writeable


@pytest.mark.parametrize("args, needle", [
    (("vote", 8, [1.0]), "accuracy method 'vote' is not available"),
    (("majority", 0, [1.0]), "n_max must be a positive integer"),
    (("majority", 8, [1.2]), "finish_quantiles must be"),
    (("majority", 8, []), "finish_quantiles must be"),
    (("majority", 8, [np.nan]), "finish_quantiles must be"),
])
def test_table_input_errors(bank_model, args, needle):
    with pytest.raises(PlannerError, match=needle):
        bank_model.table(*args)


def test_build_errors(tmp_path):
    with pytest.raises(PlannerError, match="sample bank not found"):
        build_accuracy_model(AccuracySpec("bank", bank_path="missing.jsonl"), base_dir=tmp_path)
    shutil.copy(QWEN, tmp_path / "q.jsonl")
    with pytest.raises(PlannerError, match="unknown sample-bank format 'csv'"):
        build_accuracy_model(AccuracySpec("bank", bank_path="q.jsonl", bank_format="csv"), base_dir=tmp_path)
    with pytest.raises(PlannerError, match="beta_a, beta_b > 0"):
        build_accuracy_model(AccuracySpec("parametric", beta_a=-1.0, beta_b=1.0))
