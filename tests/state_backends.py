"""The state database's back ends for tests (registered in ``tests/conftest.py``).

``state_target`` is parametrised: ``sqlite`` (a file in ``tmp_path``) and ``postgresql`` (a fresh database
``reptile_test_<random>`` created on the server of ``TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``, and dropped afterwards). Where PostgreSQL cannot be reached
the PostgreSQL cases are skipped with the reason, except when ``CI`` is ``true`` (or
``REQUIRE_TEST_SERVERS=1``): then they fail, so CI never passes without them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.state.store import StateStore

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def servers_required() -> bool:
    """True in CI (``CI=true``) or with ``REQUIRE_TEST_SERVERS=1``: absent servers fail the tests."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("REQUIRE_TEST_SERVERS") == "1"


def unavailable(what: str, exc: BaseException) -> None:
    """Skip (or, in CI, fail) a test whose server is not reachable."""
    reason = f"{what} is not reachable ({type(exc).__name__}: {exc})"
    if servers_required():
        pytest.fail(reason + "; CI must have it", pytrace=False)
    pytest.skip(reason)


async def _admin():
    import asyncpg

    return await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)


async def fresh_postgres_database() -> str:
    """Create an empty database on the test server; returns its URL."""
    try:
        conn = await _admin()
    except Exception as exc:  # refused, unknown host, auth...
        unavailable(f"PostgreSQL at {POSTGRES_URL}", exc)
        raise
    name = f"reptile_test_{secrets.token_hex(6)}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')  # name: fixed prefix + hex, never user input
    finally:
        await conn.close()
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{name}"


async def drop_postgres_database(url: str) -> None:
    """Drop a database made by :func:`fresh_postgres_database`."""
    name = url.rpartition("/")[2]
    assert name.startswith("reptile_test_")
    conn = await _admin()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def state_target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str | Path]:
    """Where a test's state database lives: a SQLite file, or a fresh PostgreSQL database URL."""
    if request.param == "sqlite":
        yield tmp_path / "state.sqlite"
        return
    url = await fresh_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@pytest.fixture
async def store(state_target: str | Path) -> AsyncIterator[StateStore]:
    """An open state store on each back end (:func:`state_target`), closed after the test."""
    s = await StateStore.open(state_target)
    yield s
    await s.close()
