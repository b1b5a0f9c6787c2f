"""Calls and incidents: the lifecycle of an emergency from first call to close."""
