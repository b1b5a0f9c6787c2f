"""Citizen reports: hazards and non-emergency problems from the public, moderated into incidents."""
