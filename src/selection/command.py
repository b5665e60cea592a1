"""The ``customs-risk decide`` command: read a batch, decide channels, write decisions."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from customs_risk.data.contracts import DECLARATIONS_FILE
from customs_risk.selection.decide import Scorer, decide_with_scorer
from customs_risk.selection.policy import ChannelPolicy
from customs_risk.selection.profiles import ProfileError, ProfileSet, load_profiles
from customs_risk.selection.thresholds import Thresholds

log = logging.getLogger(__name__)


def load_model_scorer(model_uri: str) -> tuple[Scorer, Thresholds | None, str]:
    """Hook for the models issue: (scorer, thresholds stored with the model, model version).

    Not implemented yet: raising makes the command take the fail-safe path.
    """
    raise NotImplementedError(f"loading models is not available yet (asked for {model_uri!r})")


def read_declarations(path: Path) -> pd.DataFrame:
    """A dataset folder (declarations.parquet) or a parquet file."""
    file = path / DECLARATIONS_FILE if path.is_dir() else path
    if not file.exists():
        raise FileNotFoundError(f"no {file}")
    return pd.read_parquet(file)


def run_decide_command(
    data_dir: Path,
    out: Path,
    profiles_dir: Path | None = None,
    policy_file: Path | None = None,
    model_uri: str | None = None,
    thresholds_file: Path | None = None,
    seed: int = 0,
    as_of: str | None = None,
    scorer: Scorer | None = None,
) -> int:
    """Decide a batch and write the decisions as parquet; returns the exit code."""
    try:
        profiles = load_profiles(profiles_dir) if profiles_dir is not None else ProfileSet()
    except ProfileError as exc:
        print(f"refused profile: {exc}")
        return 2
    policy = ChannelPolicy.from_yaml(policy_file) if policy_file else ChannelPolicy()
    thresholds = Thresholds.load(thresholds_file) if thresholds_file else None
    model_version, unavailable = None, None
    if scorer is None and model_uri is not None:
        try:
            scorer, stored, model_version = load_model_scorer(model_uri)
            thresholds = thresholds or stored
        except Exception as exc:  # any loading failure: fail-safe, loudly
            unavailable = f"model {model_uri!r} unavailable: {exc}"
            print(f"WARNING: {unavailable}")
    declarations = read_declarations(data_dir)
    try:
        decisions = decide_with_scorer(
            declarations,
            scorer,
            policy,
            thresholds,
            profiles,
            seed,
            as_of,
            model_version=model_version,
            unavailable_reason=unavailable,
        )
    except ProfileError as exc:
        print(f"refused profile: {exc}")
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    decisions.to_parquet(out, index=False)
    _print_summary(decisions, out)
    return 0


def _print_summary(decisions: pd.DataFrame, out: Path) -> None:
    if decisions.attrs.get("fail_safe"):
        print(
            f"FAIL-SAFE ({decisions.attrs['fail_safe']}): items not selected by a profile or the "
            "random control got the policy's default channel (selected_by=default)"
        )
    for status in decisions.attrs.get("profiles_not_applied", []):
        print(
            f"profile {status['profile_id']} not applied to {status['rows_outside']} rows: "
            f"{status['status']} (valid {status['valid_from']} to {status['valid_to']})"
        )
    table = pd.crosstab(
        [decisions["office_id"], decisions["selected_by"]], decisions["channel"], margins=True
    )
    print(table.to_string())
    print(f"wrote {len(decisions)} decisions to {out}")
