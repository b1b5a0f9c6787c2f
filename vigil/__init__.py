"""Vigil: an open, accountable public-safety platform for cities."""

__version__ = "0.1.0"
