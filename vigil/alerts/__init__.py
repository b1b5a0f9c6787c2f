"""Public alerts: drafts written by rules now; CAP 1.2 build, approval and feed come later."""
