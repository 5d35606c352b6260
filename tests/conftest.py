"""Shared test set-up: every test gets its own state database, never the repository's."""

from __future__ import annotations

import pytest

pytest_plugins = ("tests.telegram_fixtures", "tests.state_backends")


@pytest.fixture(autouse=True)
def _isolated_state_db(tmp_path, monkeypatch):
    """Point ``STATE_DB_PATH`` at a per-test file so tests never write into the checkout."""
    monkeypatch.setenv("STATE_DB_PATH", str(tmp_path / "state.sqlite"))
