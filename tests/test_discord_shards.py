"""Discord shards (issue 13): ``DISCORD_SHARD_COUNT`` / ``DISCORD_SHARD_IDS`` run discord.py's
``AutoShardedClient`` on a subset of the shards, so two processes split one bot; against the fake gateway
(which, like Discord, sends a server's events only to the shard that owns it) each answers only its
servers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import discord
import discord.http
import pytest
import yarl

from bot.adapters.discord.client import ReptileBot, ShardedReptileBot, make_client, shard_of
from bot.services import Services, open_services
from bot.settings import Settings
from tests.fakes.fake_discord import CHANNEL_MESSAGE_WITH_SOURCE, FakeDiscord, Payloads
from tests.species_rows import build_db

REAL_DB = Settings(_env_file=None).species_db_path
SHARDS = 4
WAIT = 20.0


def _guild_on(shard: int) -> int:
    """A server id that Discord's formula puts on ``shard`` of :data:`SHARDS`."""
    guild = ((1_400_000 * SHARDS + shard) << 22) + 12345
    assert shard_of(guild, SHARDS) == shard
    return guild


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> FakeDiscord:
    async with FakeDiscord() as server:
        monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.gateway_url))
        yield server


async def _process(tmp_path: Path, ids: str) -> tuple[Services, ReptileBot, asyncio.Task[None]]:
    """One "process": its own services (same state file) and a client running shards ``ids``."""
    db = REAL_DB if REAL_DB.is_file() else build_db(tmp_path / f"species-{ids}.sqlite")
    settings = Settings(_env_file=None, species_db_path=db, state_db_path=tmp_path / "state.sqlite",
                        discord_shard_count=SHARDS, discord_shard_ids=ids)
    services = await open_services(settings)
    client = make_client(services)
    task = asyncio.create_task(client.start("shard-token", reconnect=False))
    return services, client, task


async def _stop(services: Services, client: ReptileBot, task: asyncio.Task[None]) -> None:
    await client.close()
    await asyncio.wait({task}, timeout=WAIT)
    await services.close()


def test_shard_settings() -> None:
    assert Settings(_env_file=None).discord_shards() == (None, None)
    assert Settings(_env_file=None, discord_shard_count=4, discord_shard_ids="2, 3").discord_shards() == \
        (4, (2, 3))
    assert Settings(_env_file=None, discord_shard_count=2).discord_shards() == (2, None)
    with pytest.raises(ValueError):
        Settings(_env_file=None, discord_shard_count=2, discord_shard_ids="2").discord_shards()
    with pytest.raises(ValueError):
        Settings(_env_file=None, discord_shard_ids="0").discord_shards()


async def test_two_processes_with_two_shards_each_answer_only_their_servers(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    a = await _process(tmp_path, "0,1")
    b = await _process(tmp_path, "2,3")
    try:
        assert isinstance(a[1], ShardedReptileBot) and isinstance(a[1], discord.AutoShardedClient)
        await fake.wait_for(lambda f: len(f.identified_shards) == SHARDS, timeout=WAIT)
        assert fake.identified_shards == [(i, SHARDS) for i in range(SHARDS)]
        await asyncio.wait_for(asyncio.gather(a[1].wait_until_ready(), b[1].wait_until_ready()), WAIT)

        helps = {}
        for shard in range(SHARDS):
            payload = Payloads(fake, guild_id=_guild_on(shard)).slash("help")
            helps[shard] = payload
            await fake.gateway_dispatch("INTERACTION_CREATE", payload)
        for payload in helps.values():
            await fake.wait_for(lambda f, p=payload: bool(f.callbacks(p["id"])), timeout=WAIT)
        await asyncio.sleep(0.5)
        for payload in helps.values():  # each answered exactly once: by the process owning its server
            (callback,) = fake.callbacks(payload["id"])
            assert callback.json["type"] == CHANNEL_MESSAGE_WITH_SOURCE

        await _stop(*b)  # process B is gone: its servers get no answer, A's still do
        late_b = Payloads(fake, guild_id=_guild_on(2)).slash("help")
        late_a = Payloads(fake, guild_id=_guild_on(1)).slash("help")
        await fake.gateway_dispatch("INTERACTION_CREATE", late_b)
        await fake.gateway_dispatch("INTERACTION_CREATE", late_a)
        await fake.wait_for(lambda f: bool(f.callbacks(late_a["id"])), timeout=WAIT)
        await asyncio.sleep(0.5)
        assert fake.callbacks(late_b["id"]) == []
    finally:
        if not b[2].done():
            await _stop(*b)
        await _stop(*a)


async def test_unsharded_by_default(tmp_path: Path) -> None:
    db = REAL_DB if REAL_DB.is_file() else build_db(tmp_path / "species.sqlite")
    services = await open_services(Settings(_env_file=None, species_db_path=db))
    try:
        client = make_client(services)
        assert type(client) is ReptileBot and not isinstance(client, discord.AutoShardedClient)
        await client.close()
    finally:
        await services.close()
