"""The Discord adapter end to end, through discord.py's own code.

Real :class:`discord.Interaction` objects are built from Discord's documented INTERACTION_CREATE
payloads by discord.py's connection state (``ConnectionState.parse_interaction_create``, the path the
gateway takes), dispatched by the real :class:`~discord.app_commands.CommandTree`, and every REST call
discord.py makes goes to a fake Discord API on 127.0.0.1 (:mod:`tests.fakes.fake_discord`). The tests then
check the recorded interaction callbacks and webhook requests. The services are the real ones: the
ONNX model and the species database (the committed ``species.sqlite`` when it exists, else a small
database built from the real schema).
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import logging
from pathlib import Path

import discord
import discord.gateway
import discord.http
import pytest
import yarl
from PIL import Image
from pydantic import SecretStr

from bot.adapters.discord.client import ReptileBot, serve_discord
from bot.adapters.discord.commands import CONTEXT_MENU_NAME
from bot.adapters.discord.render import DANGER_COLOUR, render_embed
from bot.core import messages as m
from bot.core.card import CardKind, FactCard, Severity
from bot.core.lookup import lookup_species
from bot.core.ratelimit import UserRateLimiter
from bot.services import Services, open_services
from bot.settings import Settings
from inference.errors import RejectReason
from tests.fakes.fake_discord import (
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE_WITH_SOURCE,
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
    EPHEMERAL,
    FakeDiscord,
    Payloads,
    RecordedRequest,
)
from tests.species_rows import build_db

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "photos"
REAL_DB = Settings(_env_file=None).species_db_path
MAX_BYTES = 2 * 1024 * 1024
GUILD_ID = 1400000000000000001
REPTILE_TYPES = {"crocodilian", "lizard", "snake", "turtle"}
#: Clear photos to prefer for the real-photo test (manifest label_taxon), in order.
PREFERRED_TAXA = ("Varanus komodoensis", "Crocodylus niloticus", "Naja naja", "Caretta caretta")
#: Quiz commands (tested in test_discord_quiz.py).
QUIZ_COMMANDS = ("quiz", "leaderboard", "score")
#: Privacy and admin commands (tested in test_discord_faults.py).
OTHER_COMMANDS = ("forgetme", "stats")


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture
async def services(tmp_path: Path) -> Services:
    db = REAL_DB if REAL_DB.is_file() else build_db(tmp_path / "species.sqlite")
    settings = Settings(_env_file=None, species_db_path=db, max_image_bytes=MAX_BYTES)
    svc = await open_services(settings)
    yield svc
    await svc.close()


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> FakeDiscord:
    async with FakeDiscord() as server:
        monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
        yield server


@pytest.fixture
async def bot(services: Services, fake: FakeDiscord) -> ReptileBot:
    client = ReptileBot(services)
    await client.login("fake-token")  # GET /users/@me, GET /oauth2/applications/@me, setup_hook sync
    yield client
    await client.close()


@pytest.fixture(params=["guild", "dm"])
def payloads(request: pytest.FixtureRequest, fake: FakeDiscord) -> Payloads:
    """Interactions from a server channel and from a DM with the bot."""
    return Payloads(fake, guild_id=GUILD_ID if request.param == "guild" else None)


@pytest.fixture
def guild_payloads(fake: FakeDiscord) -> Payloads:
    return Payloads(fake, guild_id=GUILD_ID)


# ---------------------------------------------------------------------------------------------- helpers
async def dispatch(bot: ReptileBot, payload: dict) -> None:
    """Feed an INTERACTION_CREATE payload to discord.py as the gateway would, and wait for the command."""
    before = set(asyncio.all_tasks())
    bot._connection.parse_interaction_create(payload)
    started = [t for t in asyncio.all_tasks() - before if t.get_name() == "CommandTree-invoker"]
    assert started, "the command tree did not pick up the interaction"
    await asyncio.wait_for(asyncio.gather(*started), timeout=30)


def png_bytes(size: tuple[int, int] = (320, 240)) -> bytes:
    """A synthetic picture: a smooth colour gradient."""
    w, h = size
    img = Image.new("RGB", size)
    img.putdata([(x * 255 // w, y * 255 // h, 128) for y in range(h) for x in range(w)])
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def embed_of(req: RecordedRequest) -> dict:
    """The single embed in a callback (``data.embeds``) or webhook (``embeds``) request body."""
    body = req.json or {}
    embeds = (body.get("data") or body).get("embeds") or []
    assert len(embeds) == 1, body
    return embeds[0]


def expected(card: FactCard) -> dict:
    return render_embed(card).to_dict()


def exchange(fake: FakeDiscord, payload: dict) -> list[tuple[str, str]]:
    """(method, path kind) of every request made with this interaction's token, in order."""
    out = []
    for r in fake.for_token(payload["token"]):
        kind = "callback" if r.path.endswith("/callback") else (
            "original" if r.path.endswith("/messages/@original") else "followup")
        out.append((r.method, kind))
    return out


def downloads(fake: FakeDiscord) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.path.startswith("/files/")]


def assert_public_answer(fake: FakeDiscord, payload: dict, card: FactCard) -> dict:
    """Deferred with "thinking", then the "thinking" message edited into ``card``'s embed."""
    assert exchange(fake, payload) == [("POST", "callback"), ("PATCH", "original")]
    (callback,) = fake.callbacks(payload["id"])
    assert callback.json == {"type": DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE}  # thinking, not ephemeral
    (edit,) = fake.original_edits(payload["token"])
    embed = embed_of(edit)
    assert embed == expected(card)
    assert edit.json.get("allowed_mentions") == {"parse": []}
    return embed


def assert_ephemeral_reply(fake: FakeDiscord, payload: dict, text: str) -> dict:
    """Answered at once (no defer, no download) with an ephemeral embed containing ``text``."""
    assert exchange(fake, payload) == [("POST", "callback")]
    (callback,) = fake.callbacks(payload["id"])
    assert callback.json["type"] == CHANNEL_MESSAGE_WITH_SOURCE
    assert callback.json["data"]["flags"] & EPHEMERAL
    embed = embed_of(callback)
    assert text in embed["description"]
    return embed


def pick_reptile_photo(services: Services) -> tuple[Path, str]:
    """A clear reptile photo from the shared manifest whose species is in the database."""
    known = {t.scientific_name for t in services.species.taxa}
    with (PHOTOS / "manifest.csv").open(newline="") as fh:
        rows = [
            r for r in csv.DictReader(fh)
            if r["label_type"] in REPTILE_TYPES and r["label_taxon"] in known and not r["quality_flag"]
            and (PHOTOS / r["path"]).is_file()
        ]
    if not rows:
        pytest.skip("no clear reptile photo in ../shared/photos/manifest.csv matches the species database")
    rank = {t: i for i, t in enumerate(PREFERRED_TAXA)}
    rows.sort(key=lambda r: (rank.get(r["label_taxon"], len(rank)), r["path"]))
    return PHOTOS / rows[0]["path"], rows[0]["label_taxon"]


# ---------------------------------------------------------------------------------------------- sync
def _synced(fake: FakeDiscord, path: str) -> dict[str, dict]:
    (put,) = fake.find("PUT", path)
    return {c["name"]: c for c in put.json}


async def test_setup_hook_syncs_commands_globally(bot: ReptileBot, fake: FakeDiscord) -> None:
    assert fake.find("GET", "/users/@me")[0].headers["Authorization"] == "Bot fake-token"
    commands = _synced(fake, f"/applications/{fake.application_id}/commands")
    assert set(commands) == {"reptile", "species", "help", CONTEXT_MENU_NAME, *QUIZ_COMMANDS, *OTHER_COMMANDS}
    assert not fake.find("PUT", r"/applications/\d+/guilds/\d+/commands")
    for cmd in commands.values():  # servers, the bot's DMs and other DMs; guild and user installs
        assert sorted(cmd["contexts"]) == [0, 1, 2]
        assert sorted(cmd["integration_types"]) == [0, 1]
    assert commands[CONTEXT_MENU_NAME]["type"] == 3  # MESSAGE context menu
    (photo,) = commands["reptile"]["options"]
    assert (photo["name"], photo["type"], photo["required"]) == ("photo", 11, True)  # ATTACHMENT
    (name,) = commands["species"]["options"]
    assert (name["name"], name["type"], name["autocomplete"]) == ("name", 3, True)
    assert len(bot.synced) == 4 + len(QUIZ_COMMANDS) + len(OTHER_COMMANDS)


async def test_setup_hook_syncs_to_the_development_server(services: Services, fake: FakeDiscord) -> None:
    client = ReptileBot(services, guild_id=GUILD_ID)
    try:
        await client.login("fake-token")
    finally:
        await client.close()
    commands = _synced(fake, f"/applications/{fake.application_id}/guilds/{GUILD_ID}/commands")
    assert set(commands) == {"reptile", "species", "help", CONTEXT_MENU_NAME, *QUIZ_COMMANDS, *OTHER_COMMANDS}
    assert not fake.find("PUT", f"/applications/{fake.application_id}/commands")


async def test_a_failed_sync_does_not_stop_the_bot(services: Services, fake: FakeDiscord,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    fake.fail("PUT", r"/applications/\d+/commands", 403, {"message": "Missing Access", "code": 50001})
    client = ReptileBot(services)
    try:
        with caplog.at_level(logging.ERROR):
            await client.login("fake-token")
    finally:
        await client.close()
    assert "applications.commands" in caplog.text


# ---------------------------------------------------------------------------------------------- /reptile
@pytest.mark.photos
async def test_reptile_identifies_a_real_photo(
    bot: ReptileBot, fake: FakeDiscord, guild_payloads: Payloads, services: Services
) -> None:
    if not (PHOTOS / "manifest.csv").is_file():
        pytest.skip(f"shared photos not found at {PHOTOS}")
    path, taxon = pick_reptile_photo(services)
    data = path.read_bytes()
    att = guild_payloads.attachment(path.name, fake.add_file(path.name, data, "image/jpeg"),
                                    size=len(data), content_type="image/jpeg")
    payload = guild_payloads.slash_with_attachment("reptile", "photo", att)

    await dispatch(bot, payload)

    outcome = await services.identify.identify(data)
    card = outcome.card
    assert card.kind is CardKind.REPTILE
    embed = assert_public_answer(fake, payload, card)
    assert len(downloads(fake)) == 1
    assert embed["title"] == f"{card.title} ({card.scientific_name})"
    if outcome.identification.top[0].scientific_name == taxon:
        assert taxon in embed["title"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert any("Where it lives" in n for n in fields)
    assert card.confidence_text.split("!")[0] in embed["description"]
    if card.warning is not None:  # the warning comes first
        assert embed["description"].startswith("⚠️ **")
        if card.warning.severity is Severity.DANGER:
            assert embed["color"] == DANGER_COLOUR.value


async def test_reptile_with_a_synthetic_image(
    bot: ReptileBot, fake: FakeDiscord, payloads: Payloads, services: Services
) -> None:
    data = png_bytes()
    att = payloads.attachment("gradient.png", fake.add_file("gradient.png", data, "image/png"),
                              size=len(data), content_type="image/png", width=320, height=240)
    payload = payloads.slash_with_attachment("reptile", "photo", att)

    await dispatch(bot, payload)

    card = (await services.identify.identify(data)).card
    assert card.kind in (CardKind.NOT_REPTILE, CardKind.REPTILE)
    embed = assert_public_answer(fake, payload, card)
    assert embed["title"]


async def test_reptile_refuses_a_non_image_before_downloading(
    bot: ReptileBot, fake: FakeDiscord, payloads: Payloads
) -> None:
    url = fake.add_file("homework.pdf", b"%PDF-1.4\n...", "application/pdf")
    att = payloads.attachment("homework.pdf", url, size=12, content_type="application/pdf")
    payload = payloads.slash_with_attachment("reptile", "photo", att)

    await dispatch(bot, payload)

    assert_ephemeral_reply(fake, payload, m.REJECT_TEXT[RejectReason.NOT_AN_IMAGE])
    assert downloads(fake) == []


async def test_reptile_refuses_a_too_large_attachment_before_downloading(
    bot: ReptileBot, fake: FakeDiscord, payloads: Payloads
) -> None:
    url = fake.add_file("huge.jpg", b"\xff\xd8\xff", "image/jpeg")
    att = payloads.attachment("huge.jpg", url, size=MAX_BYTES + 1, content_type="image/jpeg")
    payload = payloads.slash_with_attachment("reptile", "photo", att)

    await dispatch(bot, payload)

    assert_ephemeral_reply(fake, payload, m.too_large_text(MAX_BYTES))
    assert downloads(fake) == []


async def test_a_refused_attachment_costs_no_photo_of_the_rate_limit(
    bot: ReptileBot, fake: FakeDiscord, payloads: Payloads, services: Services
) -> None:
    services.identify.rate_limiter = UserRateLimiter(1, 3600.0)  # one photo per hour
    huge = payloads.attachment("huge.jpg", fake.add_file("huge.jpg", b"\xff\xd8\xff", "image/jpeg"),
                               size=MAX_BYTES + 1, content_type="image/jpeg")
    refused = payloads.slash_with_attachment("reptile", "photo", huge)
    await dispatch(bot, refused)
    assert_ephemeral_reply(fake, refused, m.too_large_text(MAX_BYTES))

    data = png_bytes()
    ok = payloads.attachment("gradient.png", fake.add_file("gradient.png", data, "image/png"),
                             size=len(data), content_type="image/png", width=320, height=240)
    answered = payloads.slash_with_attachment("reptile", "photo", ok)
    await dispatch(bot, answered)  # the refused file did not use up the one photo
    assert exchange(fake, answered) == [("POST", "callback"), ("PATCH", "original")]
    assert len(downloads(fake)) == 1

    again = payloads.slash_with_attachment("reptile", "photo", ok)
    await dispatch(bot, again)
    assert_ephemeral_reply(fake, again, m.rate_limited_text(3600.0))
    assert len(downloads(fake)) == 1  # a rate-limited photo is never downloaded


async def test_a_file_that_says_it_is_an_image_but_is_not(
    bot: ReptileBot, fake: FakeDiscord, payloads: Payloads, services: Services
) -> None:
    data = b"<html><body>not a lizard</body></html>" * 20
    att = payloads.attachment("lizard.jpg", fake.add_file("lizard.jpg", data, "image/jpeg"),
                              size=len(data), content_type="image/jpeg")
    payload = payloads.slash_with_attachment("reptile", "photo", att)

    await dispatch(bot, payload)

    card = (await services.identify.identify(data)).card
    assert card.kind is CardKind.PROBLEM
    # Deferred publicly, so the "thinking" message is removed and the answer is an ephemeral follow-up.
    assert exchange(fake, payload) == [("POST", "callback"), ("DELETE", "original"), ("POST", "followup")]
    (followup,) = fake.followups(payload["token"])
    assert followup.json["flags"] & EPHEMERAL
    assert embed_of(followup) == expected(card)
    assert m.REJECT_TEXT[RejectReason.NOT_AN_IMAGE] in embed_of(followup)["description"]


async def test_an_error_while_answering_is_told_kindly_and_the_client_survives(
    bot: ReptileBot, fake: FakeDiscord, guild_payloads: Payloads, services: Services
) -> None:
    fake.fail("PATCH", r"/webhooks/\d+/[^/]+/messages/@original", 400,
              {"message": "Invalid Form Body", "code": 50035})
    data = png_bytes()
    att = guild_payloads.attachment("a.png", fake.add_file("a.png", data, "image/png"),
                                    size=len(data), content_type="image/png")
    payload = guild_payloads.slash_with_attachment("reptile", "photo", att)

    await dispatch(bot, payload)

    assert exchange(fake, payload) == [
        ("POST", "callback"), ("PATCH", "original"), ("DELETE", "original"), ("POST", "followup"),
    ]
    (followup,) = fake.followups(payload["token"])
    assert followup.json["flags"] & EPHEMERAL
    assert m.ERROR_TEXT in embed_of(followup)["description"]
    # The client still answers the next interaction.
    help_payload = guild_payloads.slash("help")
    await dispatch(bot, help_payload)
    assert fake.callbacks(help_payload["id"])


# ---------------------------------------------------------------------------------------------- context menu
async def test_context_menu_identifies_the_first_image_of_a_message(
    bot: ReptileBot, fake: FakeDiscord, payloads: Payloads, services: Services
) -> None:
    data = png_bytes((300, 300))
    notes = payloads.attachment("notes.txt", fake.add_file("notes.txt", b"hi", "text/plain"),
                                size=2, content_type="text/plain; charset=utf-8")
    photo = payloads.attachment("photo.png", fake.add_file("photo.png", data, "image/png"),
                                size=len(data), content_type="image/png", width=300, height=300)
    message = payloads.message(attachments=[notes, photo], content="look what I found!")
    payload = payloads.message_command(CONTEXT_MENU_NAME, message)

    await dispatch(bot, payload)

    assert_public_answer(fake, payload, (await services.identify.identify(data)).card)
    assert [r.path for r in downloads(fake)] == ["/files/photo.png"]


async def test_context_menu_uses_an_embedded_image(
    bot: ReptileBot, fake: FakeDiscord, guild_payloads: Payloads, services: Services
) -> None:
    data = png_bytes((256, 256))
    proxy = fake.add_file("proxied.png", data, "image/png")
    embed = {"type": "image", "url": "https://example.org/lizard.png",
             "thumbnail": {"url": "https://example.org/lizard.png", "proxy_url": proxy,
                           "width": 256, "height": 256}}
    message = guild_payloads.message(embeds=[embed], content="https://example.org/lizard.png")
    payload = guild_payloads.message_command(CONTEXT_MENU_NAME, message)

    await dispatch(bot, payload)

    assert_public_answer(fake, payload, (await services.identify.identify(data)).card)
    assert [r.path for r in downloads(fake)] == ["/files/proxied.png"]  # only Discord's proxy is fetched


async def test_context_menu_caps_an_embedded_image_without_a_declared_size(
    bot: ReptileBot, fake: FakeDiscord, guild_payloads: Payloads
) -> None:
    proxy = fake.add_file("enormous.png", b"\x89PNG" + b"\0" * (MAX_BYTES + 10), "image/png")
    embed = {"type": "image", "url": "https://example.org/x.png",
             "thumbnail": {"url": "https://example.org/x.png", "proxy_url": proxy}}
    payload = guild_payloads.message_command(CONTEXT_MENU_NAME, guild_payloads.message(embeds=[embed]))

    await dispatch(bot, payload)

    assert exchange(fake, payload) == [("POST", "callback"), ("DELETE", "original"), ("POST", "followup")]
    (followup,) = fake.followups(payload["token"])
    assert followup.json["flags"] & EPHEMERAL
    assert m.too_large_text(MAX_BYTES) in embed_of(followup)["description"]


async def test_context_menu_on_a_message_without_a_picture(
    bot: ReptileBot, fake: FakeDiscord, payloads: Payloads
) -> None:
    payload = payloads.message_command(CONTEXT_MENU_NAME, payloads.message(content="just words"))

    await dispatch(bot, payload)

    assert_ephemeral_reply(fake, payload, m.NO_IMAGE_IN_MESSAGE_TEXT)


# ---------------------------------------------------------------------------------------------- /species
def _venomous(services: Services):
    return next(t for t in services.species.taxa if t.venom == "venomous" and not t.is_group)


async def test_species_autocomplete_offers_common_and_scientific_names(
    bot: ReptileBot, fake: FakeDiscord, payloads: Payloads, services: Services
) -> None:
    taxon = _venomous(services)
    payload = payloads.autocomplete("species", "name", taxon.common_name[:4].lower())

    await dispatch(bot, payload)

    (callback,) = fake.callbacks(payload["id"])
    assert callback.json["type"] == AUTOCOMPLETE_RESULT
    choices = callback.json["data"]["choices"]
    assert 1 <= len(choices) <= 25
    label = f"{taxon.common_name} ({taxon.scientific_name})"
    assert {"name": label, "value": taxon.scientific_name} in choices
    assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)

    by_scientific = payloads.autocomplete("species", "name", taxon.scientific_name[:5])
    await dispatch(bot, by_scientific)
    (callback,) = fake.callbacks(by_scientific["id"])
    assert taxon.scientific_name in [c["value"] for c in callback.json["data"]["choices"]]


async def test_species_answers_with_the_same_embed_and_the_warning_first(
    bot: ReptileBot, fake: FakeDiscord, payloads: Payloads, services: Services
) -> None:
    taxon = _venomous(services)
    payload = payloads.slash("species", [{"name": "name", "type": 3, "value": taxon.scientific_name}])

    await dispatch(bot, payload)

    (callback,) = fake.callbacks(payload["id"])
    assert callback.json["type"] == CHANNEL_MESSAGE_WITH_SOURCE
    assert not (callback.json["data"].get("flags") or 0) & EPHEMERAL  # a fact card is for everyone
    embed = embed_of(callback)
    assert embed == expected(await lookup_species(services.species, taxon.scientific_name))
    assert embed["title"] == f"{taxon.common_name} ({taxon.scientific_name})"
    assert embed["description"].startswith("⚠️ **DANGER:**")
    assert embed["color"] == DANGER_COLOUR.value
    assert any(f["value"] == "Venomous" for f in embed["fields"])


async def test_species_not_found_is_private(bot: ReptileBot, fake: FakeDiscord, payloads: Payloads) -> None:
    payload = payloads.slash("species", [{"name": "name", "type": 3, "value": "qwxzv plonk"}])

    await dispatch(bot, payload)

    assert_ephemeral_reply(fake, payload, "I couldn't find a reptile called")


async def test_help_is_ephemeral(bot: ReptileBot, fake: FakeDiscord, payloads: Payloads) -> None:
    payload = payloads.slash("help")

    await dispatch(bot, payload)

    embed = assert_ephemeral_reply(fake, payload, "/reptile")
    assert CONTEXT_MENU_NAME in embed["description"]


# ---------------------------------------------------------------------------------------------- serve
async def test_serve_discord_connects_without_privileged_intents_answers_and_closes_on_cancel(
    services: Services, fake: FakeDiscord, guild_payloads: Payloads,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))
    settings = services.settings.model_copy(update={"discord_bot_token": SecretStr(" serve-token ")})
    svc = dataclasses.replace(services, settings=settings)
    caplog.set_level(logging.INFO, logger="bot.adapters.discord.client")
    task = asyncio.create_task(serve_discord(svc))

    await fake.wait_for(lambda f: f.ready)
    assert fake.find("GET", "/users/@me")[0].headers["Authorization"] == "Bot serve-token"
    assert fake.find("PUT", f"/applications/{fake.application_id}/commands")  # synced in setup_hook
    identify = next(p for p in fake.gateway_received if p["op"] == 2)
    assert identify["d"]["token"] == "serve-token"
    intents = discord.Intents._from_value(identify["d"]["intents"])
    assert intents.guilds and not intents.message_content and not intents.members and not intents.presences

    # An interaction arriving over the gateway is answered.
    payload = guild_payloads.slash("help")
    await fake.gateway_dispatch("INTERACTION_CREATE", payload)
    await fake.wait_for(lambda f: bool(f.callbacks(payload["id"])))
    assert fake.callbacks(payload["id"])[0].json["type"] == CHANNEL_MESSAGE_WITH_SOURCE

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "discord: closed" in caplog.text
    await fake.wait_for(lambda f: not f.gateway_connected)  # the client closed its websocket


async def test_serve_discord_without_a_token_fails_clearly(services: Services) -> None:
    with pytest.raises(RuntimeError, match="DISCORD_BOT_TOKEN"):
        await serve_discord(services)


async def test_an_unknown_command_gets_a_kind_private_answer(
    bot: ReptileBot, fake: FakeDiscord, payloads: Payloads
) -> None:
    payload = payloads.slash("dinosaur")  # e.g. a command still registered from an older version

    await dispatch(bot, payload)

    assert_ephemeral_reply(fake, payload, m.ERROR_TEXT)
