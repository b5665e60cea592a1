"""The risk management platform: a server-rendered web application for analysts, supervisors
and officers on the scoring service's store (``customs-risk platform``)."""
