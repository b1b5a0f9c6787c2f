"""Durable storage: the append-only, hash-chained event log and its projections."""
