"""Kinds of batch edit: one module per kind (its request, what it reads, what it wants of each
key) and `registry.py`, the one list the engine, the CLI and the console derive theirs from."""
