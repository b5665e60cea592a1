"""Schema revisions of the risk data store, oldest first."""
