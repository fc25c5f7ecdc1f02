"""knowloc.neurons."""
