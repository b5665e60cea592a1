"""Channel policy: target shares, random-control shares, ranking key, trader-grade factors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from customs_risk.selection.columns import is_missing

Channel = Literal["red", "orange", "green"]
Ranking = Literal["fraud_probability", "expected_revenue", "blend"]
POLICY_SECTION = "channel_policy"


class Shares(BaseModel):
    """Target shares of all declaration items: red and orange include the random control."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    red: float = Field(0.05, ge=0, le=1)
    orange: float = Field(0.15, ge=0, le=1)
    random_red: float = Field(0.005, ge=0, le=1)
    random_orange: float = Field(0.01, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> Shares:
        if self.red + self.orange > 1:
            raise ValueError(f"red + orange = {self.red + self.orange:g} exceeds 1")
        if self.random_red > self.red:
            raise ValueError(f"random_red {self.random_red:g} exceeds red {self.red:g}")
        if self.random_orange > self.orange:
            raise ValueError(f"random_orange {self.random_orange:g} exceeds orange {self.orange:g}")
        return self


class SharesOverride(BaseModel):
    """Per-office override: any field left out keeps the global value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    red: float | None = Field(None, ge=0, le=1)
    orange: float | None = Field(None, ge=0, le=1)
    random_red: float | None = Field(None, ge=0, le=1)
    random_orange: float | None = Field(None, ge=0, le=1)


class ChannelPolicy(BaseModel):
    """How scores and profiles become channels. Thresholds are calibrated against it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field("default", min_length=1)
    shares: Shares = Shares()
    offices: dict[str, SharesOverride] = Field(default_factory=dict)
    ranking: Ranking = "fraud_probability"
    blend_weight: float = Field(0.5, ge=0, le=1, description="weight of fraud_probability")
    revenue_scale: float | None = Field(
        None, gt=0, description="divides expected_revenue in the blend; None: calibrated"
    )
    grade_column: str = "trader_grade"
    grade_factors: dict[str, float] = Field(
        default_factory=lambda: {"A": 0.5, "B": 1.0, "C": 1.5, "D": 2.0}
    )
    unknown_grade_factor: float = Field(1.0, gt=0)
    default_channel: Channel = "orange"
    min_office_rows: int = Field(200, ge=1)
    top_reasons: int = Field(3, ge=0)
    reasons_for_green: bool = False
    _merged: dict[str, Shares] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> ChannelPolicy:
        for grade, factor in self.grade_factors.items():
            if not factor > 0:
                raise ValueError(f"grade_factors[{grade!r}] must be > 0, got {factor}")
        for office in self.offices:
            try:
                self.shares_for(office)
            except ValueError as exc:
                raise ValueError(f"offices[{office!r}]: {exc}") from exc
        return self

    def shares_for(self, office: str) -> Shares:
        """Global shares with the office's overrides applied (merged once per office)."""
        override = self.offices.get(office)
        if override is None:
            return self.shares
        merged = self._merged.get(office)
        if merged is None:
            values = self.shares.model_dump() | override.model_dump(exclude_none=True)
            merged = self._merged[office] = Shares.model_validate(values)
        return merged

    def share_arrays(self, office_ids: pd.Series) -> dict[str, np.ndarray]:
        """Per-row shares (red, orange, random_red, random_orange) for the rows' offices."""
        codes, uniques = pd.factorize(office_ids.astype("str"), use_na_sentinel=True)
        return self.shares_of(np.asarray(codes), [str(u) for u in uniques])

    def shares_of(self, codes: np.ndarray, offices: list[str]) -> dict[str, np.ndarray]:
        """Per-row shares from factorised offices (codes into ``offices``, -1 missing)."""
        rows = [self.shares_for(o) for o in offices] + [self.shares]
        out: dict[str, np.ndarray] = {}
        for name in ("red", "orange", "random_red", "random_orange"):
            table = np.array([getattr(s, name) for s in rows], dtype=np.float64)
            out[name] = table[codes]
        return out

    def key_of(
        self, fraud_probability: np.ndarray, expected_revenue: np.ndarray, revenue_scale: float
    ) -> np.ndarray:
        """The unadjusted ranking key per row (NaN where the score is missing)."""
        if self.ranking == "fraud_probability":
            return fraud_probability
        if self.ranking == "expected_revenue":
            return expected_revenue
        w = self.blend_weight
        return w * fraud_probability + (1.0 - w) * expected_revenue / revenue_scale

    def grade_factors_of(self, grades: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Multiplicative factor per row of trader grades (None / NaN: unknown)."""
        if len(grades) > 64:
            codes, uniques = pd.factorize(np.asarray(grades, dtype=object), use_na_sentinel=True)
            distinct: list[Any] = list(uniques)
        else:
            index: dict[Any, int] = {}
            codes = np.array(
                [-1 if is_missing(g) else index.setdefault(g, len(index)) for g in grades],
                dtype=np.int64,
            )
            distinct = list(index)
        table = [self.grade_factors.get(str(g), self.unknown_grade_factor) for g in distinct]
        table.append(self.unknown_grade_factor)
        return np.asarray(table, dtype=np.float64)[codes]

    def adjusted_key(
        self,
        fraud_probability: np.ndarray,
        expected_revenue: np.ndarray,
        grades: Sequence[Any] | np.ndarray | None,
        revenue_scale: float,
    ) -> np.ndarray:
        """Ranking key times the trader-grade factor: what the thresholds apply to."""
        key = self.key_of(fraud_probability, expected_revenue, revenue_scale)
        if grades is None:
            return key * self.unknown_grade_factor
        return key * self.grade_factors_of(grades)

    def ranking_key(self, scores: pd.DataFrame, revenue_scale: float) -> np.ndarray:
        """The unadjusted ranking key per row of a scores frame."""
        return self.key_of(*_key_columns(self, scores), revenue_scale)

    def grade_factor_array(self, *frames: pd.DataFrame) -> np.ndarray:
        """Multiplicative factor per row from the trader grade column (first frame holding it)."""
        n = len(frames[0]) if frames else 0
        for frame in frames:
            if frame is not None and self.grade_column in frame.columns:
                return self.grade_factors_of(frame[self.grade_column].to_numpy(dtype=object))
        return np.full(n, self.unknown_grade_factor, dtype=np.float64)

    def adjusted_score(
        self, scores: pd.DataFrame, declarations: pd.DataFrame, revenue_scale: float
    ) -> np.ndarray:
        """Ranking key times the trader-grade factor of a scores frame (grade column from the
        scores, else the declarations)."""
        key = self.ranking_key(scores, revenue_scale)
        return key * self.grade_factor_array(scores, declarations)

    @classmethod
    def from_yaml(cls, path: str | Path, section: str | None = None) -> ChannelPolicy:
        """Load from a YAML file: the whole file, ``section``, or a ``channel_policy`` section."""
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: expected a mapping")
        if section is not None:
            if section not in doc:
                raise ValueError(f"{path}: no section {section!r}")
            doc = doc[section]
        elif POLICY_SECTION in doc:
            doc = doc[POLICY_SECTION]
        return cls.model_validate(doc)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML/JSON)."""
        return self.model_dump(mode="json")


def _key_columns(policy: ChannelPolicy, scores: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """fraud_probability and expected_revenue of a frame (only those the ranking reads)."""
    n = len(scores)
    nan = np.full(n, np.nan)
    needs_fp = policy.ranking != "expected_revenue"
    needs_er = policy.ranking != "fraud_probability"
    fp = _column(scores, "fraud_probability") if needs_fp else nan
    er = _column(scores, "expected_revenue") if needs_er else nan
    return fp, er


def _column(scores: pd.DataFrame, name: str) -> np.ndarray:
    if name not in scores.columns:
        raise ValueError(f"scores need a column {name!r}")
    return scores[name].to_numpy(dtype=np.float64, na_value=np.nan)
