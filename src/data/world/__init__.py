"""Stages of the synthetic customs world (see customs_risk.data.generator)."""
