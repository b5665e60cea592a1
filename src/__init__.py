"""customs-risk: customs risk management (seizure likelihood, price fraud, clearance channels)."""

__version__ = "0.1.0"
