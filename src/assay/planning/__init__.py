"""Planning: which asset partitions are stale, and why, without running anything."""
