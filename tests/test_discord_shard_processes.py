"""Discord shards as separate processes (issue 13): two ``reptile-museum run`` processes
(``tests/discord_process.py``: the real command, with discord.py's REST and gateway addresses pointed at
the fake), ``DISCORD_SHARD_COUNT=4`` with ``DISCORD_SHARD_IDS=0,1`` and ``2,3``, sharing a fresh
PostgreSQL state database, against one fake Discord (REST and a WebSocket gateway on 127.0.0.1, in this
process) that sends each server's events only to the shard owning it, as Discord does
(``(guild_id >> 22) % 4``).

Real: the processes, discord.py's ``AutoShardedClient`` and its gateway protocol over a real WebSocket
(HELLO, IDENTIFY with ``[shard_id, shard_count]``, READY, heartbeats), the interaction callbacks over
HTTP, the bot's commands and the shared database. Fake: Discord itself (``tests/fakes/fake_discord.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.adapters.discord.client import shard_of
from bot.settings import PROJECT_ROOT
from tests.fakes.fake_discord import CHANNEL_MESSAGE_WITH_SOURCE, FakeDiscord, Payloads
from tests.replica_processes import BotProcess, free_port, poll_until
from tests.state_backends import drop_postgres_database, fresh_postgres_database

pytestmark = pytest.mark.slow

SHARDS = 4
WAIT_S = 90.0
LAUNCHER = Path(__file__).with_name("discord_process.py")


def _guild_on(shard: int, n: int = 0) -> int:
    """A server id that Discord's formula puts on ``shard`` of :data:`SHARDS`."""
    guild = ((1_400_000 * SHARDS + shard + SHARDS * n) << 22) + 12345
    assert shard_of(guild, SHARDS) == shard
    return guild


async def _answered_once(fake: FakeDiscord, payload: dict) -> None:
    await poll_until(f"an answer to interaction {payload['id']}", lambda: bool(fake.callbacks(payload["id"])),
                     WAIT_S)


async def test_two_processes_with_two_shards_each_answer_only_their_servers(tmp_path: Path) -> None:
    url = await fresh_postgres_database()
    procs: list[BotProcess] = []
    try:
        async with FakeDiscord() as fake:
            for ids in ("0,1", "2,3"):
                procs.append(BotProcess(f"shards-{ids.replace(',', '-')}", {
                    "DISCORD_BOT_TOKEN": "shard-token", "DISCORD_SHARD_COUNT": str(SHARDS),
                    "DISCORD_SHARD_IDS": ids, "TELEGRAM_BOT_TOKEN": "", "STATE_DB_URL": url,
                    "FAKE_DISCORD_URL": fake.base_url, "INFERENCE_WORKERS": "1",
                    "SPECIES_DB_PATH": str(PROJECT_ROOT / "species.sqlite"),
                }, tmp_path, free_port(), command=[sys.executable, str(LAUNCHER)]))
            for p in procs:  # one after the other: see tests/test_replica_startup.py
                await p.start()
                await p.wait_ready()  # /readyz: model, database and Discord connected
            await poll_until("four shards identified", lambda: len(fake.identified_shards) == SHARDS, WAIT_S)
            assert fake.identified_shards == [(i, SHARDS) for i in range(SHARDS)]

            # Two servers per shard: each interaction is answered, once (by the one process owning it).
            first = {(shard, n): Payloads(fake, guild_id=_guild_on(shard, n)).slash("help")
                     for shard in range(SHARDS) for n in range(2)}
            for payload in first.values():
                await fake.gateway_dispatch("INTERACTION_CREATE", payload)
            for payload in first.values():
                await _answered_once(fake, payload)
            for payload in first.values():
                (callback,) = fake.callbacks(payload["id"])
                assert callback.json["type"] == CHANNEL_MESSAGE_WITH_SOURCE

            # The 2,3 process dies: its servers get no answer any more, the 0,1 process's still do. So
            # the 0,1 process never answers servers of shards 2 and 3, and their answers above came
            # from the other process.
            await procs[1].kill()
            later = {s: Payloads(fake, guild_id=_guild_on(s)).slash("help") for s in range(SHARDS)}
            for payload in later.values():
                await fake.gateway_dispatch("INTERACTION_CREATE", payload)
            for shard in (0, 1):
                await _answered_once(fake, later[shard])
            # One more of its own servers, sent last: once it is answered, the 0,1 process has handled
            # everything it was sent (the gateway delivers in order), so no late answer is pending.
            probe = Payloads(fake, guild_id=_guild_on(0, 5)).slash("help")
            await fake.gateway_dispatch("INTERACTION_CREATE", probe)
            await _answered_once(fake, probe)
            assert fake.callbacks(later[2]["id"]) == [] and fake.callbacks(later[3]["id"]) == []
            assert procs[0].alive
            assert await procs[0].stop() == 0, procs[0].log()[-3000:]
    finally:
        for p in procs:
            await p.kill()
        await drop_postgres_database(url)
