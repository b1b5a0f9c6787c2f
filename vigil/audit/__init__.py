"""Accountability: roles, the personal-data access log, chain verification, retention."""
