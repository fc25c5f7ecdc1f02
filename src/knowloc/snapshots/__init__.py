"""knowloc.snapshots."""
