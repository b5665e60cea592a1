"""The revenue guard: the bundle never ranks revenue worse than the best rule did on the
validation window (docs/models.md, "Rule guards").

Training scores the model's expected revenue and every rule of ``models.rules`` on the
validation window's inspected rows, and the rank average of the model with each rule; the best
of these rankers (mean revenue share at 5 and 10 %) serves, the model on a tie. A rule or a blend
reorders the rows only: its rank (against the validation window's distribution) is mapped back to
the model's expected revenue at the same rank, so ``expected_revenue`` keeps its money scale and
the thresholds calibrated on it stay meaningful.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from customs_risk.models.metrics import revenue_share_at
from customs_risk.models.rules import RULES

MODEL = "model"
GRID = np.linspace(0.0, 1.0, 1001)


def _quantiles(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    return np.quantile(finite, GRID) if len(finite) else np.zeros_like(GRID)


def _rank(quantiles: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The share of the reference distribution below each value (0 for -inf and NaN)."""
    return np.where(np.isnan(values), 0.0, np.interp(values, quantiles, GRID))


def revenue_objective(revenue: np.ndarray, score: np.ndarray) -> float:
    """What the guard compares: the mean revenue share at 5 and 10 %."""
    return 0.5 * (revenue_share_at(revenue, score, 0.05) + revenue_share_at(revenue, score, 0.10))


@dataclass
class RevenueGuard:
    """The chosen revenue ranker (``model``, ``rule:<name>`` or ``blend:<name>``), the reference
    quantiles it ranks against and the validation figures it was chosen on."""

    ranker: str
    model_quantiles: np.ndarray
    rule_quantiles: np.ndarray | None = None
    blend_quantiles: np.ndarray | None = None
    valid: dict[str, float] | None = None

    @property
    def rule(self) -> str | None:
        return None if self.ranker == MODEL else self.ranker.split(":", 1)[1]

    def apply(self, expected_revenue: np.ndarray, rules: dict[str, np.ndarray]) -> np.ndarray:
        """The served expected revenue: the model's, or reordered by the chosen ranker."""
        if self.rule is None:
            return expected_revenue
        assert self.rule_quantiles is not None
        rank = _rank(self.rule_quantiles, rules[self.rule])
        if self.ranker.startswith("blend:"):
            assert self.blend_quantiles is not None
            mixed = 0.5 * (_rank(self.model_quantiles, expected_revenue) + rank)
            rank = _rank(self.blend_quantiles, mixed)
        return np.interp(rank, GRID, self.model_quantiles)

    @classmethod
    def choose(
        cls,
        expected_revenue: np.ndarray,
        rules: dict[str, np.ndarray],
        revenue: np.ndarray,
        labelled: np.ndarray,
    ) -> RevenueGuard:
        """The best ranker on the validation rows (``labelled``: the inspected ones, whose
        ``revenue`` is known); the quantiles come from all validation rows."""
        model_q = _quantiles(expected_revenue)
        y = np.nan_to_num(revenue[labelled])
        scores: dict[str, float] = {MODEL: revenue_objective(y, expected_revenue[labelled])}
        built: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = {}
        for name in RULES:
            rule_q = _quantiles(rules[name])
            rank = _rank(rule_q, rules[name])
            mixed = 0.5 * (_rank(model_q, expected_revenue) + rank)
            blend_q = _quantiles(mixed)
            scores[f"rule:{name}"] = revenue_objective(y, rank[labelled])
            scores[f"blend:{name}"] = revenue_objective(y, mixed[labelled])
            built[f"rule:{name}"] = (rule_q, None)
            built[f"blend:{name}"] = (rule_q, blend_q)
        best = max(scores, key=lambda k: (scores[k], k == MODEL))
        chosen: tuple[np.ndarray | None, np.ndarray | None] = built.get(best, (None, None))
        valid = {k: round(v, 6) for k, v in scores.items()}
        return cls(best, model_q, chosen[0], chosen[1], valid)

    def to_dict(self) -> dict[str, object]:
        def listed(values: np.ndarray | None) -> list[float] | None:
            return None if values is None else [float(v) for v in values]

        return {
            "ranker": self.ranker,
            "model_quantiles": listed(self.model_quantiles),
            "rule_quantiles": listed(self.rule_quantiles),
            "blend_quantiles": listed(self.blend_quantiles),
            "valid": self.valid,
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: Path) -> RevenueGuard:
        doc = json.loads(path.read_text())

        def array(key: str) -> np.ndarray | None:
            values = doc.get(key)
            return None if values is None else np.asarray(values, dtype=np.float64)

        model_q = array("model_quantiles")
        assert model_q is not None
        return cls(
            doc["ranker"], model_q, array("rule_quantiles"), array("blend_quantiles"), doc["valid"]
        )
