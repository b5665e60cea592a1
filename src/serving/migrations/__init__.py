"""Alembic migrations of the risk data store (``customs_risk.serving.store``): ``Store.create``
upgrades any store to the head revision; ``versions/`` holds one file per schema change."""
