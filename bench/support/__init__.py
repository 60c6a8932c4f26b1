"""What several benches share (not a bench: `./dev bench` lists only bench/*.py)."""
