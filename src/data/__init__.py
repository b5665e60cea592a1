"""customs_risk.data."""
