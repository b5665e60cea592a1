"""The reference for the serving overhead: a bare BentoML service that parses a ``/score`` body
into the same ``Declaration`` models as the real service and answers a constant decision. What
the real service spends beyond it is features, models, the decision and the audit record."""

from __future__ import annotations

from typing import Annotated

import bentoml
import orjson
from pydantic import Field
from starlette.responses import Response

from customs_risk.serving.schemas import MAX_ITEMS, Declaration, ScoreResponse

_ANSWER = orjson.dumps(
    {
        "request_id": "constant",
        "decisions": [
            {
                "declaration_id": "DEC0",
                "item_no": 1,
                "channel": "green",
                "selected_by": "model",
                "model_channel": "green",
                "risk_score": 0.01,
                "fraud_probability": 0.01,
                "critical_probability": 0.0,
                "expected_revenue": 0.0,
                "trader_grade": "B",
                "propensity": 0.015,
                "propensity_red": 0.005,
                "profile_hits": [],
                "reasons": [],
                "model_version": "bare",
                "policy_version": "bare",
            }
        ],
    }
)


@bentoml.service(
    name="bare_reference",
    workers=1,
    traffic={"timeout": 120},
    metrics={"enabled": True},
    logging={"access": {"enabled": False}},
)
class BareService:
    """Parses declarations, answers a constant."""

    @bentoml.api(route="/score")
    async def score(
        self,
        declarations: Annotated[list[Declaration], Field(min_length=1, max_length=MAX_ITEMS)],
    ) -> ScoreResponse:
        """A constant decision for any valid body."""
        return Response(_ANSWER, media_type="application/json")  # type: ignore[return-value]
