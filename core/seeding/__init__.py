"""CRS-shaped data for the demo, tests and benchmarks: the packaged sample plus generated keys."""
