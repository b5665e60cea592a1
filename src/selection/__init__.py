"""customs_risk.selection: risk profiles, channel policy, thresholds, random control, decisions.

See docs/selection.md. The public API is re-exported here.
"""

from customs_risk.selection.columns import Columns
from customs_risk.selection.decide import (
    DECISION_COLUMNS,
    BatchDecision,
    ScoreArrays,
    Scorer,
    decide,
    decide_batch,
    decide_with_scorer,
    score_or_none,
)
from customs_risk.selection.kernel import KernelInput, KernelOutput, channel_kernel
from customs_risk.selection.lists import (
    ListEntry,
    ListError,
    ListHits,
    ManagedLists,
    evaluate_lists,
    load_lists,
    parse_list_entry,
)
from customs_risk.selection.policy import ChannelPolicy, Shares, SharesOverride
from customs_risk.selection.profiles import (
    Criterion,
    ProfileError,
    ProfileHits,
    ProfileSet,
    ProfileStatus,
    RiskProfile,
    evaluate_profiles,
    load_profiles,
    parse_profile,
)
from customs_risk.selection.random_control import control_draw, control_draws
from customs_risk.selection.reasons import build_reasons
from customs_risk.selection.thresholds import OfficeThresholds, Thresholds, calibrate_thresholds

__all__ = [
    "DECISION_COLUMNS",
    "BatchDecision",
    "Columns",
    "KernelInput",
    "KernelOutput",
    "ScoreArrays",
    "channel_kernel",
    "decide_batch",
    "ChannelPolicy",
    "Criterion",
    "ListEntry",
    "ListError",
    "ListHits",
    "ManagedLists",
    "OfficeThresholds",
    "ProfileError",
    "ProfileHits",
    "ProfileSet",
    "ProfileStatus",
    "RiskProfile",
    "Scorer",
    "Shares",
    "SharesOverride",
    "Thresholds",
    "build_reasons",
    "calibrate_thresholds",
    "control_draw",
    "control_draws",
    "decide",
    "decide_with_scorer",
    "evaluate_lists",
    "evaluate_profiles",
    "load_lists",
    "load_profiles",
    "parse_list_entry",
    "parse_profile",
    "score_or_none",
]
