"""customs_risk.models."""
