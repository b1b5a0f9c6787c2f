"""Rules: operator-readable YAML rules that turn patterns of events into actions."""
