"""HTTP API (FastAPI), live feed and authentication."""
