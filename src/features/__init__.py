"""customs_risk.features."""
