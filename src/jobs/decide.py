"""``customs-risk decide``: read a batch, decide its channels with a model (or the fail-safe),
write the decisions and print the shares per office.

``--model`` is a registry URI, ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` (the MLflow
store of ``CUSTOMS_RISK_MLFLOW_*``), or a bundle folder written by ``RiskModel.save``. The
bundle decides with its own policy and thresholds; ``--thresholds`` replaces the thresholds
(calibrated for the bundle's policy), ``--policy`` must then equal the bundle's policy. Without
a model the fail-safe (profiles, random control, the policy's default channel) runs only when
asked for with ``--fail-safe``. Anything that cannot be used is exit code 2 with a message, and
no decisions are written.
"""

from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from customs_risk.models.bundle import RiskModel
    from customs_risk.models.tracking import MlflowSettings

REGISTRY_SCHEME = "models:/"
_REGISTRY_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))")
FAIL_SAFE_REASON = "no model"
NO_MODEL = (
    "no model: give --model URI (models:/customs-risk@champion, models:/customs-risk/3 or a "
    "bundle folder), or --fail-safe to decide without one (profiles, random control, the "
    "policy's default channel)"
)


@dataclass(frozen=True)
class DecideOptions:
    """Inputs of ``customs-risk decide``."""

    data_dir: Path  # dataset folder (declarations.parquet) or a declarations parquet file
    out: Path = Path("decisions.parquet")
    profiles: Path | None = None  # profile YAML file or folder
    policy: Path | None = None  # channel policy YAML (fail-safe; with a model: must match it)
    model: str | None = None  # registry URI or bundle folder
    thresholds: Path | None = None  # thresholds JSON replacing the bundle's
    fail_safe: bool = False  # decide without a model
    seed: int = 0  # seed of the random control draw
    as_of: str | None = None  # decision date for profile validity (default: declared_at)
    lists: Path | None = None  # managed-list YAML file or folder


class ModelLoadError(Exception):
    """A ``--model`` that cannot be used; the message names the URI and the reason."""


def parse_registry_uri(uri: str) -> tuple[str, str | None, str | None]:
    """(name, alias, version) of ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``."""
    match = _REGISTRY_URI.fullmatch(uri)
    if match is None:
        raise ValueError("expected models:/NAME@ALIAS or models:/NAME/VERSION")
    return match["name"], match["alias"], match["version"]


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def load_model(uri: str, workdir: Path, mlflow_settings: MlflowSettings | None = None) -> RiskModel:
    """The RiskModel of a registry URI (downloaded into ``workdir``) or of a bundle folder.

    Registry loads carry ``meta["model_version"] = "NAME/VERSION"``. Raises ModelLoadError.
    """
    from customs_risk.models.bundle import META_FILE, RiskModel
    from customs_risk.models.tracking import MlflowSettings, configure, download_bundle

    try:
        if uri.startswith(REGISTRY_SCHEME):
            name, alias, version = parse_registry_uri(uri)
            base = mlflow_settings or MlflowSettings()
            settings = configure(base.model_copy(update={"model_name": name}))
            bundle, mv = download_bundle(settings, alias=alias, version=version, dst=workdir)
            model = RiskModel.load(bundle)
            model.meta["model_version"] = f"{name}/{mv.version}"
            model.meta["registry_version"] = str(mv.version)
        else:
            folder = Path(uri)
            if not folder.is_dir():
                raise FileNotFoundError("no such folder")
            if not (folder / META_FILE).is_file():
                raise FileNotFoundError(f"no {META_FILE} in the folder: not a model bundle")
            model = RiskModel.load(folder)
    except Exception as exc:  # whatever fails, the command stops with the reason
        raise ModelLoadError(f"model {uri!r} did not load: {_reason(exc)}") from exc
    return model


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _use_with_model(model: RiskModel, options: DecideOptions, policy: Any) -> str | None:
    """Apply ``--thresholds`` to the model; the reason it cannot decide, or None."""
    from customs_risk.selection.thresholds import Thresholds

    if policy is not None and policy != model.policy:
        return (
            f"--policy {options.policy} (version {policy.version!r}) is not the policy of model "
            f"{model.version} (version {model.policy.version!r}): its thresholds are calibrated "
            "for its own policy; leave --policy out"
        )
    if options.thresholds is not None:
        try:
            thresholds = Thresholds.load(options.thresholds)
        except (OSError, ValueError) as exc:
            return f"thresholds {options.thresholds} do not load: {_reason(exc)}"
        try:
            thresholds.check_policy(model.policy)
        except ValueError as exc:
            return f"thresholds {options.thresholds} do not fit model {model.version}: {exc}"
        model.thresholds = thresholds
    if model.thresholds is None:
        return f"model {model.version} has no thresholds: give --thresholds FILE"
    return None


def run(options: DecideOptions) -> int:
    """Decide the batch and write the decisions as parquet; exit code (2: nothing written)."""
    import yaml

    from customs_risk.jobs.io import read_declarations
    from customs_risk.selection.decide import decide
    from customs_risk.selection.lists import ListError, load_lists
    from customs_risk.selection.policy import ChannelPolicy
    from customs_risk.selection.profiles import ProfileError, ProfileSet, load_profiles

    o = options
    if o.model is not None and o.fail_safe:
        return _error("give --model or --fail-safe, not both")
    if o.model is None and not o.fail_safe:
        return _error(NO_MODEL)
    if o.model is None and o.thresholds is not None:
        return _error("--thresholds needs --model (the fail-safe uses no thresholds)")
    try:
        profiles = load_profiles(o.profiles) if o.profiles is not None else ProfileSet()
    except ProfileError as exc:
        print(f"refused profile: {exc}")
        return 2
    try:
        lists = load_lists(o.lists) if o.lists is not None else None
    except ListError as exc:
        print(f"refused list entry: {exc}")
        return 2
    policy = None
    if o.policy is not None:
        try:
            policy = ChannelPolicy.from_yaml(o.policy)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            return _error(f"policy {o.policy} does not load: {_reason(exc)}")
    try:
        declarations = read_declarations(o.data_dir)
    except FileNotFoundError as exc:
        return _error(str(exc))
    with tempfile.TemporaryDirectory(prefix="customs-risk-decide-") as tmp:
        try:
            if o.model is None:
                decisions = decide(
                    declarations,
                    None,
                    policy or ChannelPolicy(),
                    None,
                    profiles,
                    o.seed,
                    o.as_of,
                    fail_safe_reason=FAIL_SAFE_REASON,
                    lists=lists,
                )
            else:
                try:
                    model = load_model(o.model, Path(tmp))
                except ModelLoadError as exc:
                    return _error(str(exc))
                problem = _use_with_model(model, o, policy)
                if problem is not None:
                    return _error(problem)
                decisions = model.decide(declarations, profiles, o.seed, o.as_of, lists=lists)
                print(f"model {model.version} ({o.model})")
        except ProfileError as exc:
            print(f"refused profile: {exc}")
            return 2
    o.out.parent.mkdir(parents=True, exist_ok=True)
    decisions.to_parquet(o.out, index=False)
    print_summary(decisions, o.out)
    return 0


def print_summary(decisions: pd.DataFrame, out: Path) -> None:
    """The fail-safe notice, profiles not applied, office x selected_by x channel counts."""
    import pandas as pd

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
