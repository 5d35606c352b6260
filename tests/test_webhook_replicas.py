"""Telegram webhook replicas (issue 13): two real bots (``serve_telegram`` in webhook mode) share one
state database (SQLite file or PostgreSQL); an update delivered to both is answered once, and a request
without the right ``X-Telegram-Bot-Api-Secret-Token`` is refused. Per-user rate limits through Redis hold
across replicas."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.adapters.telegram.app import serve_telegram
from bot.core import messages as m
from bot.core.shared_ratelimit import RedisRateLimiter
from bot.services import Services, open_services
from tests.fakes.fake_telegram import FakeTelegram
from tests.replica_processes import free_port
from tests.state_backends import REDIS_URL, unavailable
from tests.telegram_fixtures import WAIT_S, telegram_settings

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@contextlib.asynccontextmanager
async def _replica(
    fake: FakeTelegram, species_db: Path, state: str | Path, secret: str
) -> AsyncIterator[tuple[int, Services]]:
    """One bot in webhook mode on a port the OS picks, sharing ``state``; yields (port, services)."""
    settings = telegram_settings(
        fake, species_db, state_db_url=str(state) if "://" in str(state) else f"sqlite:///{state}",
        telegram_webhook_url="https://bot.example.org/hook", telegram_webhook_listen="127.0.0.1",
        telegram_webhook_secret=secret,
    )
    # Port 0 (TELEGRAM_WEBHOOK_PORT itself must be 1-65535): services.listening says which one.
    services = await open_services(settings.model_copy(update={"telegram_webhook_port": 0}))
    start = len(fake.requests)
    task = asyncio.create_task(serve_telegram(services))
    try:
        await fake.wait_for("setWebhook", timeout=WAIT_S, after=start)  # sent once the server listens
        yield services.listening["telegram_webhook"], services
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=WAIT_S)
        await services.close()


async def _post(port: int, update: dict | list, secret: str | None) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with aiohttp.ClientSession() as http, http.post(
        f"http://127.0.0.1:{port}/hook", json=update, headers=headers
    ) as resp:
        return resp.status


async def test_an_update_delivered_to_two_replicas_is_answered_once(
    fake: FakeTelegram, species_db: Path, state_target
) -> None:
    secret = secrets.token_urlsafe(24)
    async with _replica(fake, species_db, state_target, secret) as (port_a, _a), \
            _replica(fake, species_db, state_target, secret) as (port_b, _b):
        chat = fake.private_chat(4242)
        update = {"update_id": 910001, "message": fake.message(chat=chat, text="/help")}
        assert await _post(port_a, update, secret) == 200
        assert await _post(port_b, update, secret) == 200  # Telegram re-delivered it elsewhere
        assert await _post(port_a, update, secret) == 200  # and again
        # Each 200 came after its delivery was handled (or skipped): a duplicate reply would be here.
        replies = [r for r in fake.calls("sendMessage") if int(r.params["chat_id"]) == 4242]
        assert len(replies) == 1 and replies[0].params["text"] == m.HELP_TEXT

        other = {"update_id": 910002, "message": fake.message(chat=fake.private_chat(4343), text="/help")}
        assert await _post(port_b, other, None) == 403  # no secret: refused
        assert await _post(port_b, other, "wrong") == 403
        assert await _post(port_b, [other], secret) == 400  # JSON, but not an update: refused kindly
        assert not [r for r in fake.calls("sendMessage") if int(r.params["chat_id"]) == 4343]
        assert await _post(port_b, other, secret) == 200  # the same update with the secret is handled
        await fake.wait_for("sendMessage", lambda p: int(p["chat_id"]) == 4343, timeout=WAIT_S)


async def test_redis_rate_limit_holds_across_replicas() -> None:
    """Two limiters (two replicas) on one Redis: 8 photos a minute in all, not 8 each."""
    probe = RedisRateLimiter(REDIS_URL, 1, 60)
    if not await probe.ping():
        unavailable(f"Redis at {REDIS_URL}", ConnectionError("no answer"))
    a = RedisRateLimiter(REDIS_URL, 8, 60)
    b = RedisRateLimiter(REDIS_URL, 8, 60)
    user = f"kid-{secrets.token_hex(6)}"  # a fresh user: nothing counted yet
    results = [await (a, b)[i % 2].check("telegram", user) for i in range(12)]
    assert results[:8] == [None] * 8
    assert all(r is not None and 0 < r <= 60 for r in results[8:])
    assert await a.check("telegram", f"other-{user}") is None  # another user has their own limit


async def test_a_redis_outage_lets_photos_through() -> None:
    dead = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", 1, 60)
    assert [await dead.check("discord", "u") for _ in range(3)] == [None, None, None]


@pytest.fixture(autouse=True)
def _no_redis_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
