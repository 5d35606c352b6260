"""End-to-end: the real PTB Application (``serve_telegram``) against a fake Bot API on 127.0.0.1.

Real Services: the real ONNX model and the species database (``species.sqlite`` when it has been built,
otherwise the small real-schema database of ``tests/species_rows.py``). Nothing of ours is mocked; the
fake server is the only stand-in. Every wait is bounded and fails with the list of requests it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from bot.adapters.telegram.app import TelegramStartError, serve_telegram
from bot.adapters.telegram.render import render_html
from bot.core import messages as m
from bot.core.cards import rejected_card
from bot.services import Services, open_services
from inference.errors import RejectReason
from tests.fakes.fake_telegram import FAKE_TOKEN, FakeTelegram
from tests.paths import SHARED_PHOTOS, manifest_rows
from tests.telegram_fixtures import WAIT_S, telegram_settings, wait_polling


@pytest.fixture
async def bot(services: Services, fake: FakeTelegram) -> AsyncIterator[FakeTelegram]:
    """serve_telegram running in polling mode; cancelled and checked for a clean stop afterwards."""
    task = asyncio.create_task(serve_telegram(services))
    try:
        await wait_polling(task, fake)
        yield fake
    finally:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=WAIT_S)
        assert done, "serve_telegram did not stop within the timeout after cancel"
        assert task.cancelled() or isinstance(task.exception(), asyncio.CancelledError)


def _reptile_photo() -> bytes:
    """A crocodilian (else snake, else any labelled reptile) ImageNet photo from ../shared/photos;
    skips with a clear reason when the folder is absent."""
    rows = [r for r in manifest_rows() if r["label_taxon"] and r["path"].startswith("imagenet")]
    rows.sort(key=lambda r: (r["label_type"] != "crocodilian", r["label_type"] != "snake", r["path"]))
    for row in rows:
        if (SHARED_PHOTOS / row["path"]).is_file():
            return (SHARED_PHOTOS / row["path"]).read_bytes()
    pytest.skip(f"no labelled reptile photo in {SHARED_PHOTOS}")


def _png(size: tuple[int, int] = (320, 240)) -> bytes:
    img = Image.new("RGB", size)
    for x in range(size[0]):
        for y in range(0, size[1], 4):
            img.putpixel((x, y), (x % 256, (y * 3) % 256, 120))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _reply_to(params: dict, message: dict) -> bool:
    reply = params.get("reply_parameters") or {}
    return int(reply.get("message_id", 0)) == message["message_id"]


def _to_chat(message: dict):
    """Predicate: a request answering ``message`` (its chat, replying to it)."""
    return lambda p: int(p["chat_id"]) == message["chat"]["id"] and _reply_to(p, message)


# -- private chats ----------------------------------------------------------------------------------


@pytest.mark.photos
async def test_private_photo_gets_the_card_as_a_reply(bot: FakeTelegram, services: Services) -> None:
    data = _reptile_photo()
    expected = (await services.identify.identify(data)).card
    sizes = bot.photo_sizes(data, width=800, height=600)
    msg = bot.push_message(photo=sizes)

    sent = await bot.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)

    assert sent.params["text"] == render_html(expected)
    assert sent.params["parse_mode"] == "HTML"
    assert _reply_to(sent.params, msg)
    assert expected.scientific_name
    assert f"<i>{html.escape(expected.scientific_name)}</i>" in sent.params["text"]
    typing = bot.calls("sendChatAction")
    assert typing and typing[0].params["action"] == "typing" and typing[0].at <= sent.at
    # the 800 px size was downloaded, not the 90 px thumbnail
    assert [c.params["file_id"] for c in bot.calls("getFile")] == [sizes[1]["file_id"]]


async def test_private_synthetic_png_document_gets_a_well_formed_reply(bot: FakeTelegram) -> None:
    msg = bot.push_message(document=bot.document(_png(), "drawing.png", "image/png"))

    sent = await bot.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)

    assert sent.params["parse_mode"] == "HTML"
    assert _reply_to(sent.params, msg)
    assert sent.params["text"].count("<b>") == sent.params["text"].count("</b>") >= 1
    assert len(bot.calls("getFile")) == 1 and len(bot.downloads) == 1


async def test_text_file_named_like_a_photo_gets_not_an_image(bot: FakeTelegram) -> None:
    doc = bot.document(b"Dear diary, today I saw a lizard.\n" * 20, "photo.jpg", "image/jpeg")
    msg = bot.push_message(document=doc)

    sent = await bot.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)

    assert sent.params["text"] == render_html(rejected_card(RejectReason.NOT_AN_IMAGE))
    assert _reply_to(sent.params, msg)


async def test_non_image_document_is_refused_before_download(bot: FakeTelegram) -> None:
    msg = bot.push_message(document=bot.document(b"%PDF-1.4 ...", "homework.pdf", "application/pdf"))

    sent = await bot.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)

    assert sent.params["text"] == render_html(rejected_card(RejectReason.NOT_AN_IMAGE))
    assert bot.calls("getFile") == []


async def test_oversized_document_is_refused_without_get_file(bot: FakeTelegram, services: Services) -> None:
    limit = services.settings.max_image_bytes
    msg = bot.push_message(document=bot.document(_png(), "huge.png", "image/png", file_size=limit + 1))

    sent = await bot.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)

    assert html.escape(m.too_large_text(limit)) in sent.params["text"]
    assert bot.calls("getFile") == []
    assert bot.downloads == []


async def test_get_file_too_big_gets_the_kind_too_large_reply(bot: FakeTelegram, services: Services) -> None:
    bot.fail("getFile", "Bad Request: file is too big")
    # no declared size, so the precheck passes and Telegram's own 20 MB limit answers
    doc = bot.document(_png(), "big.png", "image/png")
    doc.pop("file_size")
    msg = bot.push_message(document=doc)

    sent = await bot.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)

    assert html.escape(m.too_large_text(services.settings.max_image_bytes)) in sent.params["text"]
    assert len(bot.calls("getFile")) == 1 and bot.downloads == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"sticker": {"file_id": "S1", "file_unique_id": "uS1", "width": 512, "height": 512,
                      "is_animated": False, "is_video": False, "type": "regular"}}, m.NO_PHOTO_TEXT),
        ({"voice": {"file_id": "V1", "file_unique_id": "uV1", "duration": 2}}, m.NO_PHOTO_TEXT),
        # a GIF: Telegram sends an MP4 animation and also fills document
        ({"animation": {"file_id": "A1", "file_unique_id": "uA1", "width": 320, "height": 240,
                        "duration": 3, "mime_type": "video/mp4"},
          "document": {"file_id": "A1", "file_unique_id": "uA1", "file_name": "lizard.gif.mp4",
                       "mime_type": "video/mp4"}}, m.MOVING_MEDIA_TEXT),
        ({"video": {"file_id": "W1", "file_unique_id": "uW1", "width": 640, "height": 480,
                    "duration": 5}}, m.MOVING_MEDIA_TEXT),
        ({"text": "what is a gecko?"}, m.PRIVATE_TEXT_HINT),
        ({"text": "/dance"}, m.PRIVATE_TEXT_HINT),
    ],
    ids=["sticker", "voice", "gif", "video", "text", "unknown-command"],
)
async def test_other_private_messages_get_a_kind_hint(bot: FakeTelegram, fields: dict, expected: str) -> None:
    msg = bot.push_message(**fields)

    sent = await bot.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)

    assert sent.params["text"] == expected
    assert bot.calls("getFile") == []


async def test_help_and_start(bot: FakeTelegram) -> None:
    msg = bot.push_message(text="/start")
    sent = await bot.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)
    assert sent.params["text"] == m.HELP_TEXT

    group = bot.push_message(chat=bot.group_chat(), text="/help@reptile_museum_test_bot")
    sent = await bot.wait_for("sendMessage", _to_chat(group), timeout=WAIT_S)
    assert m.HELP_TEXT in sent.params["text"] and m.GROUP_HELP_EXTRA in sent.params["text"]


# -- /species ---------------------------------------------------------------------------------------


async def test_species_lookup(bot: FakeTelegram) -> None:
    msg = bot.push_message(text="/species komodo")
    sent = await bot.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)
    assert "<b>Komodo dragon</b>" in sent.params["text"]
    assert "<i>Varanus komodoensis</i>" in sent.params["text"]
    assert sent.params["parse_mode"] == "HTML"


async def test_species_query_is_escaped(bot: FakeTelegram) -> None:
    msg = bot.push_message(text="/species <b>x</b>")
    sent = await bot.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)
    assert "&lt;b&gt;x&lt;/b&gt;" in sent.params["text"]
    assert "<b>x</b>" not in sent.params["text"]


async def test_species_without_a_name_explains_usage(bot: FakeTelegram) -> None:
    msg = bot.push_message(text="/species")
    sent = await bot.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)
    assert html.escape(m.SPECIES_USAGE_TEXT) in sent.params["text"]


# -- groups -----------------------------------------------------------------------------------------


async def test_group_photo_without_command_is_ignored_and_reptile_reply_identifies_it(
    bot: FakeTelegram, services: Services
) -> None:
    data = _png((400, 300))
    group = bot.group_chat()
    photo_msg = bot.push_message(chat=group, photo=bot.photo_sizes(data, 800, 600))
    await bot.idle(quiet=1.0, timeout=WAIT_S)
    assert bot.calls("sendMessage") == [] and bot.calls("getFile") == []

    expected = (await services.identify.identify(data)).card
    cmd = bot.push_message(chat=group, text="/reptile", reply_to_message=photo_msg)
    sent = await bot.wait_for("sendMessage", _to_chat(cmd), timeout=WAIT_S)

    assert sent.params["text"] == render_html(expected)
    assert _reply_to(sent.params, cmd)
    # The quiet second above is only a hint on a slow machine; also, every message the bot has sent in
    # the group by now (the photo was fetched long before the command) answers the command.
    assert [c for c in bot.calls("sendMessage") if not _reply_to(c.params, cmd)] == []


async def test_group_identify_with_bot_name_and_caption_command(bot: FakeTelegram) -> None:
    group = bot.group_chat()
    photo_msg = bot.push_message(chat=group, document=bot.document(_png(), "p.png", "image/png"))
    cmd = bot.push_message(chat=group, text="/identify@reptile_museum_test_bot",
                           reply_to_message=photo_msg)
    sent = await bot.wait_for("sendMessage", _to_chat(cmd), timeout=WAIT_S)
    assert _reply_to(sent.params, cmd) and sent.params["parse_mode"] == "HTML"

    start = len(bot.requests)
    captioned = bot.push_message(chat=group, photo=bot.photo_sizes(_png()), caption="/reptile please")
    sent = await bot.wait_for("sendMessage", _to_chat(captioned), timeout=WAIT_S, after=start)
    assert _reply_to(sent.params, captioned)


async def test_group_command_without_a_photo(bot: FakeTelegram) -> None:
    group = bot.group_chat()
    cmd = bot.push_message(chat=group, text="/reptile")
    sent = await bot.wait_for("sendMessage", _to_chat(cmd), timeout=WAIT_S)
    assert sent.params["text"] == m.GROUP_NO_PHOTO_TEXT

    text_msg = bot.push_message(chat=group, text="look at this!")
    start = len(bot.requests)
    cmd = bot.push_message(chat=group, text="/reptile", reply_to_message=text_msg)
    sent = await bot.wait_for("sendMessage", _to_chat(cmd), timeout=WAIT_S, after=start)
    assert sent.params["text"] == m.GROUP_NO_PHOTO_TEXT


# -- errors and token hygiene -----------------------------------------------------------------------


async def test_unexpected_error_is_logged_once_and_answered_kindly(
    bot: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # a 5xx is retried (twice); the third failure in a row gives up politely
    bot.fail("getFile", "Internal Server Error", status=500, times=3)
    msg = bot.push_message(photo=bot.photo_sizes(_png()))

    sent = await bot.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)

    assert sent.params["text"] == m.ERROR_TEXT
    ours = [r for r in caplog.records
            if r.name.startswith("bot.adapters.telegram") and r.levelno >= logging.ERROR]
    assert len(ours) == 1, [r.getMessage() for r in ours]
    assert "failed" in ours[0].getMessage() and ours[0].exc_info is None
    assert FAKE_TOKEN not in caplog.text


async def test_token_never_appears_in_debug_logs(
    fake: FakeTelegram, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("telegram", "httpx", "httpcore", "bot"):
        caplog.set_level(logging.DEBUG, logger=name)
    bare_token_secret = FAKE_TOKEN.split(":", 1)[1]
    task = asyncio.create_task(serve_telegram(services))
    try:
        await wait_polling(task, fake)
        msg = fake.push_message(photo=fake.photo_sizes(_png()))
        await fake.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)
        fake.fail("getFile", "Internal Server Error", status=500)
        msg = fake.push_message(document=fake.document(_png(), "a.png", "image/png"))
        await fake.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, WAIT_S)

    assert any("getUpdates" in r.getMessage() for r in caplog.records), "DEBUG logs were not captured"
    everything = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert FAKE_TOKEN not in everything
    assert bare_token_secret not in everything


async def test_rejected_token_fails_start_up_without_leaking_it(
    fake: FakeTelegram, species_db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "987654321:AAWrongTokenWrongTokenWrongToken-xyz"
    svc = await open_services(telegram_settings(fake, species_db, token=wrong))
    try:
        with pytest.raises(TelegramStartError) as info:
            await asyncio.wait_for(serve_telegram(svc), WAIT_S)
    finally:
        await svc.close()
    assert "rejected" in str(info.value)
    assert wrong not in str(info.value) and info.value.__cause__ is None
    assert wrong not in caplog.text


async def test_webhook_mode_checks_the_secret_and_answers(
    fake: FakeTelegram, species_db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("telegram", "httpx"):
        caplog.set_level(logging.DEBUG, logger=name)
    settings = telegram_settings(
        fake, species_db,
        telegram_webhook_url="https://bot.example.org/tg/hook",
        telegram_webhook_listen="127.0.0.1",
        telegram_webhook_secret="s3cret-token_for-tests",
    )
    # Port 0: the operating system picks a free port (services.listening says which). TELEGRAM_WEBHOOK_PORT
    # itself must be 1-65535, so the validated settings are copied with 0 for this test only.
    svc = await open_services(settings.model_copy(update={"telegram_webhook_port": 0}))
    task = asyncio.create_task(serve_telegram(svc))
    try:
        hook = await fake.wait_for("setWebhook", timeout=WAIT_S)
        assert hook.params["url"] == "https://bot.example.org/tg/hook"
        assert hook.params["secret_token"] == "s3cret-token_for-tests"
        bound = svc.listening["telegram_webhook"]  # it listens before it calls setWebhook
        msg = fake.message(text="/species komodo")
        update = {"update_id": 77, "message": msg}
        url = f"http://127.0.0.1:{bound}/tg/hook"
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=update) as resp:
                assert resp.status == 403  # no secret header
            headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token_for-tests"}
            async with http.post(url, json=update, headers=headers) as resp:
                assert resp.status == 200
        sent = await fake.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)
        assert "<b>Komodo dragon</b>" in sent.params["text"]
        assert fake.calls("getUpdates") == []
        assert "setWebhook" in caplog.text  # DEBUG logs were captured...
        assert "s3cret-token_for-tests" not in caplog.text  # ...without the webhook secret
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, WAIT_S)
        await svc.close()


# -- command menu -----------------------------------------------------------------------------------


def _menu(call) -> tuple[str, list[str]]:
    scope = call.params["scope"]
    commands = call.params["commands"]
    return (scope["type"] if isinstance(scope, dict) else scope), [c["command"] for c in commands]


async def test_command_menu_is_published_and_every_command_answers(bot: FakeTelegram) -> None:
    await bot.wait_for("setMyCommands", lambda p: "all_group_chats" in str(p.get("scope")), timeout=WAIT_S)
    menus = dict(_menu(c) for c in bot.calls("setMyCommands"))
    assert set(menus) == {"all_private_chats", "all_group_chats"}
    assert "reptile" in menus["all_group_chats"] and "reptile" not in menus["all_private_chats"]
    assert {"species", "quiz", "leaderboard", "score", "help"} <= set(menus["all_private_chats"])
    # A command in the menu that nobody handles would be a dead button: each one gets an answer.
    chat = bot.group_chat()
    for command in menus["all_group_chats"]:
        msg = bot.push_message(chat=chat, text=f"/{command}")
        await bot.wait_for("sendMessage", lambda p, msg=msg: int(p["chat_id"]) == chat["id"]
                           and _reply_to(p, msg), timeout=WAIT_S)


async def test_command_menu_failure_does_not_stop_the_bot(
    fake: FakeTelegram, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail("setMyCommands", "Bad Request: something went wrong", times=2)
    task = asyncio.create_task(serve_telegram(services))
    try:
        await wait_polling(task, fake)
        msg = fake.push_message(text="/help")
        sent = await fake.wait_for("sendMessage", _to_chat(msg), timeout=WAIT_S)
        assert sent.params["text"] == m.HELP_TEXT
        assert "could not publish the command menu" in caplog.text
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=WAIT_S)
