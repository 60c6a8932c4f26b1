"""Reading CRS data out of Redis: the lean key table, full records on demand, accounts."""
