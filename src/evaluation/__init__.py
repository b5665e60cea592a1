"""customs_risk.evaluation."""
