"""knowloc.alignment."""
