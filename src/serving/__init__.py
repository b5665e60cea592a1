"""customs_risk.serving."""
