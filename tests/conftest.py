"""Shared test set-up: every test gets its own state database, never the repository's; Hypothesis is
deterministic.

Hypothesis: the ``ci`` profile (the default) derandomizes every property test, so each run of the suite
tries the same examples and a failure is reproducible from the test alone, and keeps no example
database (failing examples of earlier runs are not saved or replayed, so a result cannot depend on what
ran before; Hypothesis still caches source constants and Unicode tables in ``.hypothesis/``).
``HYPOTHESIS_PROFILE=explore`` runs random examples instead, for a local bug hunt; Hypothesis prints
``@reproduce_failure`` for anything it finds, which then belongs in the test.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from bot.logging_setup import redact_handler

pytest_plugins = ("tests.telegram_fixtures", "tests.state_backends")

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _isolated_state_db(tmp_path, monkeypatch):
    """Point ``STATE_DB_PATH`` at a per-test file so tests never write into the checkout."""
    monkeypatch.setenv("STATE_DB_PATH", str(tmp_path / "state.sqlite"))


@pytest.fixture(autouse=True)
def _redacted_caplog(caplog: pytest.LogCaptureFixture) -> None:
    """``caplog`` sees records as the bot's log handlers do: through the one redacting filter that
    ``setup_logging`` puts on every root handler (secrets redacted, expected faults in one line)."""
    redact_handler(caplog.handler)
