"""The command-centre web UI: static single-page app built from TypeScript sources."""
