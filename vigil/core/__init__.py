"""Core types shared by every domain: ids, clock, geometry, events, errors."""
