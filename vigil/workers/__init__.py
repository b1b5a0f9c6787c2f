"""Worker groups: ingest/rules workers sharing the device partitions by lease, with failover."""
