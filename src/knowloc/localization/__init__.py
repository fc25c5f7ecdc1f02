"""knowloc.localization."""
