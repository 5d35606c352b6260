"""Privacy: no photo bytes on disk, the identification log's columns, tokens from a secrets folder,
and token redaction in logs (including URL-encoded tokens and uncaught exceptions).

The full-process checks (a whole ``python -m bot`` run's output searched for the token, files left in
its working directory and TMPDIR) are in :mod:`tests.test_process`.
"""

from __future__ import annotations

import io
import logging
import sqlite3
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import discord.http
import pytest
from PIL import Image

from bot.adapters.discord.client import ReptileBot
from bot.logging_setup import RedactingFilter, setup_logging
from bot.services import open_services
from bot.settings import Settings
from tests.fakes.fake_discord import FakeDiscord, Payloads
from tests.species_rows import build_db
from tests.test_discord_adapter import REAL_DB, dispatch

TOKEN = "123456789:AAFakeTokenForTestsOnly-abcdefghijklmn"


def jpeg_bytes() -> bytes:
    img = Image.new("RGB", (320, 240))
    img.putdata([((x * 3) % 256, (y * 7) % 256, (x ^ y) % 256) for y in range(240) for x in range(320)])
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def all_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


# ---------------------------------------------------------------------------------------------- photos
async def test_identifications_write_no_photo_bytes_to_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Core and Discord identifications with the working directory and TMPDIR in empty folders:
    afterwards they hold only the state database, which holds no photo bytes."""
    species_db = REAL_DB if REAL_DB.is_file() else build_db(tmp_path / "species.sqlite")
    work, tmp = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    photo = jpeg_bytes()

    settings = Settings(_env_file=None, species_db_path=species_db, state_db_path=work / "state.sqlite")
    services = await open_services(settings)
    try:
        # Core: identify and log, as every adapter does.
        for chat in (1, 2):
            outcome = await services.identify.identify(photo)
            assert outcome.identification is not None
            await services.quiz.log_identification("telegram", chat, "Naja naja", 0.5)
        # Discord: a /reptile command with the photo attached, through discord.py.
        async with FakeDiscord() as fake:
            monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
            client = ReptileBot(services)
            await client.login("fake-token")
            try:
                payloads = Payloads(fake)
                att = payloads.attachment("lizard.jpg", fake.add_file("lizard.jpg", photo, "image/jpeg"),
                                          size=len(photo), content_type="image/jpeg")
                payload = payloads.slash_with_attachment("reptile", "photo", att)
                await dispatch(client, payload)
                assert fake.original(payload["token"])["embeds"]
            finally:
                await client.close()
        n_logged = await services.state.identification_count()
    finally:
        await services.close()

    assert all_files(tmp) == set()
    assert all_files(work) <= {"state.sqlite", "state.sqlite-wal", "state.sqlite-shm"}
    for name in all_files(work):
        blob = (work / name).read_bytes()
        assert photo[:2048] not in blob and photo[-2048:] not in blob and photo[1000:1512] not in blob

    # The identification log: platform, salted chat hash, taxon, confidence, time. Nothing else.
    with sqlite3.connect(work / "state.sqlite") as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(identifications)")]
        hashes = [r[0] for r in conn.execute("SELECT chat_hash FROM identifications")]
    assert columns == ["id", "platform", "chat_hash", "taxon", "confidence", "created_at"]
    assert n_logged >= 2 and all(len(h) == 64 and h not in ("1", "2") for h in hashes)


# ---------------------------------------------------------------------------------------------- secrets
def test_tokens_come_from_a_secrets_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "telegram_bot_token").write_text(TOKEN + "\n")  # as `docker secret` files often are
    (secrets / "DISCORD_BOT_TOKEN").write_text("discord-from-file")
    for var in ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SETTINGS_SECRETS_DIR", str(secrets))

    settings = Settings(_env_file=None)
    assert settings.telegram_bot_token.get_secret_value() == TOKEN
    assert settings.discord_bot_token.get_secret_value() == "discord-from-file"
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "from-the-environment")  # the environment wins
    assert Settings(_env_file=None).telegram_bot_token.get_secret_value() == "from-the-environment"

    monkeypatch.setenv("SETTINGS_SECRETS_DIR", "")  # no secrets folder at all
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
    assert Settings(_env_file=None).telegram_bot_token is None


def test_config_example_documents_the_secrets_folder() -> None:
    text = (Path(__file__).resolve().parents[1] / "config.example.env").read_text()
    assert "SETTINGS_SECRETS_DIR" in text and "telegram_bot_token" in text


# ---------------------------------------------------------------------------------------------- redaction
def test_redacting_filter_covers_url_encoded_tokens_and_tracebacks() -> None:
    f = RedactingFilter(["  discord-secret-token  ", TOKEN])
    encoded = quote(TOKEN, safe="")
    try:
        raise RuntimeError(f"GET https://api.telegram.org/file/bot{encoded}/photos/1.jpg failed")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom %s %s",
                                   (TOKEN, "discord-secret-token"), sys.exc_info())
    assert f.filter(record)
    text = logging.Formatter().format(record)
    assert TOKEN not in text and encoded not in text and "discord-secret-token" not in text
    assert "***" in text
    # Shape-based: an unknown Telegram token, plain or URL-encoded.
    assert f.redact("bot987654321%3AABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123/x") == "bot***/x"


def test_broken_log_format_does_not_leak_its_arguments() -> None:
    f = RedactingFilter([TOKEN])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d %d", (TOKEN,), None)
    assert f.filter(record)
    assert TOKEN not in record.getMessage()


def test_uncaught_exceptions_are_logged_redacted(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import threading

    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    monkeypatch.setattr(root, "handlers", [handler])
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    settings = Settings(_env_file=None, telegram_bot_token=TOKEN, discord_bot_token="discord-secret-token")
    setup_logging(settings)
    try:
        raise ValueError(f"bad token {TOKEN} / discord-secret-token")
    except ValueError:
        sys.excepthook(*sys.exc_info())

    def fail() -> None:
        raise ValueError(f"in a thread: {TOKEN}")

    t = threading.Thread(target=fail, name="worker-x")
    t.start()
    t.join()
    logging.captureWarnings(False)
    out = stream.getvalue() + capsys.readouterr().err
    assert "uncaught exception" in out and "in thread worker-x" in out
    assert TOKEN not in out and "discord-secret-token" not in out
