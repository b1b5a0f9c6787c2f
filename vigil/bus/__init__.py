"""The event bus: delivers recorded events to in-process subscribers after commit."""
