"""Accuracy model: sample banks (`tts-bank/1`), exact estimators over random N-subsets, a with-replacement
bootstrap for N beyond the bank, the parametric Beta fallback, and the `AccuracyModel.table` the optimizer reads.
Imports only numpy at module level (planner.special replaces scipy.special, scipy.stats and scipy.optimize, which
cost 0.5-1 s each to import); scipy.optimize is loaded inside fit_beta only."""

from planner.accuracy.bank import Bank, BankProblem, Sample, load_bank, save_bank  # noqa: F401
from planner.accuracy.bank_qwen_math import import_qwen_math  # noqa: F401
from planner.accuracy.estimators import (  # noqa: F401
    Estimate,
    best_of_n,
    majority_at_n,
    pass_at_n,
    weighted_majority_at_n,
)
from planner.accuracy.model import (  # noqa: F401
    AccuracyModel,
    BankAccuracyModel,
    ParametricAccuracyModel,
    build_accuracy_model,
)
from planner.accuracy.parametric import BetaFit, fit_beta  # noqa: F401
