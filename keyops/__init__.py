"""keyops: bulk-manage claude-relay-service API keys in Redis, safely.

The repository keeps its three parts at the top (`core/`, `tui/`, `cli/`); the package maps them
into this one namespace (`keyops.core`, `keyops.tui`, `keyops.cli`, see `pyproject.toml`), so an
installed keyops adds a single top-level name to site-packages.
"""

__version__ = "0.1.0"
