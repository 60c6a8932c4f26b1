"""The CLI tests that need a database use the integration tests' CRS fixture DB."""

from tests.integration.conftest import fixture_db

__all__ = ["fixture_db"]
