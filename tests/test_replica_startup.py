"""Replicas starting together (issue 13): several processes open the same fresh PostgreSQL state
database at once (``docker compose up`` starts every replica together); each must come up, with the
Alembic migrations applied once.

Separate processes, as in production: Alembic's ``context`` is a module-global, so concurrent
migrations inside one process say nothing about the real case.
"""

from __future__ import annotations

import asyncio
import sys

import pytest

from tests.state_backends import drop_postgres_database, fresh_postgres_database

REPLICAS = 4
OPEN = """
import asyncio, sys
from bot.core.quiz.state import StateStore

async def main():
    store = await StateStore.open(sys.argv[1])
    print(await store.schema_version())
    await store.close()

asyncio.run(main())
"""


@pytest.mark.xfail(reason="migrations of replicas starting together race on a fresh PostgreSQL database "
                          "(CREATE TABLE alembic_version twice; migrate() needs a pg advisory lock)",
                   strict=False)
async def test_replicas_opening_a_fresh_database_together_all_start() -> None:
    url = await fresh_postgres_database()
    try:
        procs = [await asyncio.create_subprocess_exec(
            sys.executable, "-c", OPEN, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            for _ in range(REPLICAS)]
        results = [await asyncio.wait_for(p.communicate(), 120) for p in procs]
        failures = [err.decode(errors="replace").strip().splitlines()[-1:] for p, (_, err)
                    in zip(procs, results, strict=True) if p.returncode != 0]
        assert not failures, failures
        assert len({out for out, _ in results}) == 1  # one schema version for all
    finally:
        await drop_postgres_database(url)
