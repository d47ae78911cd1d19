"""The integration suite's moto world (`aws`), for the hand-written hostile cases."""

from tests.integration.conftest import aws  # noqa: F401 (a fixture, re-exported for this folder)
