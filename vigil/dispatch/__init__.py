"""Dispatch: unit recommendation by drive time, run cards, routes."""
