"""Profiles: plain data (JSON) describing hardware, target/draft models, fitted step-time coefficients,
speculative acceptance, generation lengths and an accuracy source, with provenance."""

from planner.profile.schema import (  # noqa: F401
    SCHEMA,
    Acceptance,
    AccuracySpec,
    DraftSpec,
    Hardware,
    LengthSpec,
    ModelArch,
    PrefillCoeffs,
    Profile,
    StepCoeffs,
)
from planner.profile.store import find_profile, list_profiles, load_profile  # noqa: F401
