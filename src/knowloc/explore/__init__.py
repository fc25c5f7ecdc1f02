"""knowloc.explore."""
