"""Discord: faults on the HTTP layer (429 and 500), the per-user photo limit, /forgetme and /stats.

Same set-up as :mod:`tests.test_discord_adapter`: real discord.py objects, a fake Discord API on
127.0.0.1. discord.py retries a 429 after ``retry_after`` (when the answer carries Cloudflare's ``Via``
header, as Discord's does) and a 5xx after 1, 3, 5... seconds, five attempts in all, both in its REST
client (``discord.http``) and in the webhook adapter that interactions use (``discord.webhook.async_``).
The tests shorten those sleeps (see :func:`fast_retries`) so five failed attempts take milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
import types

import discord.http
import discord.webhook.async_
import pytest

from bot.adapters.discord.client import ReptileBot
from bot.adapters.discord.commands import HELP_TEXT
from bot.core import messages as m
from bot.core.admin import NOT_ADMIN_TEXT
from bot.core.ratelimit import UserRateLimiter
from bot.services import Services
from tests import test_discord_adapter as base
from tests.fakes.fake_discord import CHANNEL_MESSAGE_WITH_SOURCE, EPHEMERAL, FakeDiscord, Payloads
from tests.test_discord_adapter import GUILD_ID, dispatch, downloads, embed_of, exchange, png_bytes

# The adapter tests' fixtures: real services, the fake Discord API and a logged-in client.
services = base.services
fake = base.fake
bot = base.bot
guild_payloads = base.guild_payloads

#: Headers Discord sends with a 429 (https://discord.com/developers/docs/topics/rate-limits).
RATE_LIMIT_HEADERS = {
    "Via": "1.1 google",
    "Retry-After": "1",
    "X-RateLimit-Limit": "5",
    "X-RateLimit-Remaining": "0",
    "X-RateLimit-Reset": "1470173023.123",
    "X-RateLimit-Reset-After": "0.1",
    "X-RateLimit-Bucket": "abcd1234",
    "X-RateLimit-Scope": "user",
}
RATE_LIMIT_BODY = {"message": "You are being rate limited.", "retry_after": 0.1, "global": False}
SERVER_ERROR_BODY = {"message": "500: Internal Server Error", "code": 0}

CALLBACK = r"/interactions/\d+/[^/]+/callback"
ORIGINAL = r"/webhooks/\d+/[^/]+/messages/@original"
FOLLOWUP = r"/webhooks/\d+/[^/]+"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """discord.py's retry sleeps, recorded and cut to at most 10 ms. Returns the requested delays."""
    requested: list[float] = []

    async def sleep(delay: float, result: object = None) -> object:
        requested.append(delay)
        return await asyncio.sleep(min(delay, 0.01), result)

    for module in (discord.http, discord.webhook.async_):
        names = [k for k in dir(asyncio) if not k.startswith("__")]
        shim = types.SimpleNamespace(**{k: getattr(asyncio, k) for k in names})
        shim.sleep = sleep
        monkeypatch.setattr(module, "asyncio", shim)
    return requested


def photo_payload(fake: FakeDiscord, payloads: Payloads, name: str = "p.png") -> dict:
    data = png_bytes((200, 160))
    att = payloads.attachment(name, fake.add_file(name, data, "image/png"), size=len(data),
                              content_type="image/png")
    return payloads.slash_with_attachment("reptile", "photo", att)


def bot_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("bot.") and r.levelno >= logging.ERROR]


# ---------------------------------------------------------------------------------------------- 429 / 500
@pytest.mark.parametrize("status", [429, 500])
@pytest.mark.parametrize("route", ["callback", "original"])
async def test_a_transient_failure_is_retried_and_the_user_gets_the_answer(
    bot: ReptileBot, fake: FakeDiscord, guild_payloads: Payloads, fast_retries: list[float],
    caplog: pytest.LogCaptureFixture, status: int, route: str,
) -> None:
    pattern = CALLBACK if route == "callback" else ORIGINAL
    method = "POST" if route == "callback" else "PATCH"
    if status == 429:
        fake.fail(method, pattern, 429, RATE_LIMIT_BODY, headers=RATE_LIMIT_HEADERS, times=2)
    else:
        fake.fail(method, pattern, 500, SERVER_ERROR_BODY, times=2)
    payload = photo_payload(fake, guild_payloads)

    await dispatch(bot, payload)

    tries = 3 if route == "callback" else 1
    edits = 3 if route == "original" else 1
    assert exchange(fake, payload) == [("POST", "callback")] * tries + [("PATCH", "original")] * edits
    assert fake.original(payload["token"])["embeds"], "the answer reached the user"
    assert len(downloads(fake)) == 1
    assert (0.1 if status == 429 else 1) in fast_retries  # Discord's retry_after, or discord.py's 1 s
    assert bot_errors(caplog) == []


async def test_a_rate_limited_follow_up_is_retried(
    bot: ReptileBot, fake: FakeDiscord, guild_payloads: Payloads, fast_retries: list[float]
) -> None:
    """An ephemeral follow-up (the kind answer to a file that is not a picture) hits a 429 first."""
    fake.fail("POST", FOLLOWUP, 429, RATE_LIMIT_BODY, headers=RATE_LIMIT_HEADERS)
    data = b"not a picture at all" * 10
    att = guild_payloads.attachment("x.jpg", fake.add_file("x.jpg", data, "image/jpeg"), size=len(data),
                                    content_type="image/jpeg")
    payload = guild_payloads.slash_with_attachment("reptile", "photo", att)

    await dispatch(bot, payload)

    assert exchange(fake, payload) == [
        ("POST", "callback"), ("DELETE", "original"), ("POST", "followup"), ("POST", "followup"),
    ]
    (message,) = fake.followup_messages(payload["token"])
    assert message["flags"] & EPHEMERAL
    assert 0.1 in fast_retries


async def test_a_persistent_500_is_logged_once_and_the_next_interaction_works(
    bot: ReptileBot, fake: FakeDiscord, guild_payloads: Payloads, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail("POST", CALLBACK, 500, SERVER_ERROR_BODY, times=1000)
    payload = guild_payloads.slash("help")

    with caplog.at_level(logging.DEBUG, logger="bot"):
        await dispatch(bot, payload)

    # discord.py tried 5 times, then our error handler tried once more to tell the user (5 more).
    assert exchange(fake, payload) == [("POST", "callback")] * 10
    errors = bot_errors(caplog)
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "500" in errors[0].getMessage() and errors[0].exc_info is None
    assert not any(r.levelno >= logging.WARNING for r in caplog.records
                   if r.name.startswith("bot.") and r not in errors)

    fake._routes = [r for r in fake._routes if r.remaining is None]  # Discord is back
    again = guild_payloads.slash("help")
    await dispatch(bot, again)
    (callback,) = fake.callbacks(again["id"])
    assert callback.json["type"] == CHANNEL_MESSAGE_WITH_SOURCE
    assert "/forgetme" in embed_of(callback)["description"]


async def test_a_persistent_500_on_the_answer_edit_falls_back_to_a_kind_private_message(
    bot: ReptileBot, fake: FakeDiscord, guild_payloads: Payloads, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail("PATCH", ORIGINAL, 500, SERVER_ERROR_BODY, times=5)  # every attempt of the first edit
    payload = photo_payload(fake, guild_payloads)

    await dispatch(bot, payload)

    assert exchange(fake, payload) == [("POST", "callback")] + [("PATCH", "original")] * 5 + [
        ("DELETE", "original"), ("POST", "followup"),
    ]
    (message,) = fake.followup_messages(payload["token"])
    assert m.ERROR_TEXT in message["embeds"][0]["description"]
    assert len(bot_errors(caplog)) == 1


# ---------------------------------------------------------------------------------------------- rate limit
async def test_per_user_photo_limit_answers_kindly_before_downloading(
    bot: ReptileBot, fake: FakeDiscord, guild_payloads: Payloads, services: Services
) -> None:
    services.identify.rate_limiter = UserRateLimiter(limit=1, window_s=60)
    first = photo_payload(fake, guild_payloads, "a.png")
    await dispatch(bot, first)
    assert fake.original(first["token"])["embeds"]

    second = photo_payload(fake, guild_payloads, "b.png")
    await dispatch(bot, second)
    assert exchange(fake, second) == [("POST", "callback")]
    (callback,) = fake.callbacks(second["id"])
    assert callback.json["data"]["flags"] & EPHEMERAL
    assert "Wow, that's a lot of photos!" in embed_of(callback)["description"]
    assert [r.path for r in downloads(fake)] == ["/files/a.png"]  # the second photo was not fetched

    # The context menu counts too; another user is not affected.
    data = png_bytes((120, 120))
    att = guild_payloads.attachment("c.png", fake.add_file("c.png", data, "image/png"), size=len(data),
                                    content_type="image/png")
    menu = guild_payloads.message_command("Identify reptile", guild_payloads.message(attachments=[att]))
    await dispatch(bot, menu)
    assert exchange(fake, menu) == [("POST", "callback")]
    other = guild_payloads.as_user(1500000000000000009, "friend")
    menu2 = other.message_command("Identify reptile", other.message(attachments=[att]))
    await dispatch(bot, menu2)
    assert fake.original(menu2["token"])["embeds"]


# ------------------------------------------------------------------------------------ /forgetme, /stats
async def test_forgetme_deletes_the_users_scores(
    bot: ReptileBot, fake: FakeDiscord, guild_payloads: Payloads, services: Services
) -> None:
    user_id = guild_payloads.user["id"]
    store = services.state
    rnd = await store.start_round("discord", "1", str(GUILD_ID), 1, "kids")
    q = await store.record_question(rnd.id, 0, "photo", "Naja naja", 4, 1)
    assert (await store.record_answer(q, user_id, "kid", 1)).accepted
    other = await store.record_question(rnd.id, 1, "photo", "Naja naja", 4, 1)
    assert (await store.record_answer(other, "777", "friend", 1)).accepted
    await store.finish_round(rnd.id)  # points count once the questions close
    assert await store.user_score("discord", GUILD_ID, user_id) is not None

    payload = guild_payloads.slash("forgetme")
    await dispatch(bot, payload)

    (callback,) = fake.callbacks(payload["id"])
    assert callback.json["data"]["flags"] & EPHEMERAL
    assert m.FORGOTTEN_TEXT.split("!")[0] in embed_of(callback)["description"]
    assert await store.user_score("discord", GUILD_ID, user_id) is None
    assert await store.user_score("discord", GUILD_ID, "777") is not None


async def test_stats_only_for_admins(
    bot: ReptileBot, fake: FakeDiscord, guild_payloads: Payloads, services: Services
) -> None:
    await services.state.log_identification("discord", 42, "Naja naja", 0.9)
    payload = guild_payloads.slash("stats")
    await dispatch(bot, payload)
    (callback,) = fake.callbacks(payload["id"])
    assert callback.json["data"]["flags"] & EPHEMERAL
    assert NOT_ADMIN_TEXT.split("(")[0].strip() in embed_of(callback)["description"]

    services.admin_ids = frozenset({f"discord:{guild_payloads.user['id']}", "telegram:1"})
    payload = guild_payloads.slash("stats")
    await dispatch(bot, payload)
    (callback,) = fake.callbacks(payload["id"])
    assert callback.json["data"]["flags"] & EPHEMERAL
    embed = embed_of(callback)
    assert "Reptile Museum stats" in embed["title"]
    assert "Identifications: 1" in embed["description"] and "42" not in embed["description"]


def test_help_mentions_forgetme() -> None:
    assert "/forgetme" in HELP_TEXT
