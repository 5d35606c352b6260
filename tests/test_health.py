"""Health and metrics (issue 13): ``/healthz``, ``/readyz`` and ``/metrics`` on a port of their own, with
no chat id or token in any answer; ``/readyz`` follows the state database going down and coming back."""

from __future__ import annotations

import io
import random
from urllib.parse import urlsplit

import aiohttp
import numpy as np
from PIL import Image

from bot.core import messages, metrics
from bot.core.card import CardKind
from bot.health import start_health_server
from bot.services import Services, open_services
from bot.settings import PROJECT_ROOT
from tests.fakes.fake_telegram import FAKE_TOKEN, FakeTelegram
from tests.replica_processes import BotProcess, TcpRelay, free_port, poll_until
from tests.state_backends import _admin, drop_postgres_database, fresh_postgres_database
from tests.synthetic_photos import photo
from tests.telegram_fixtures import telegram_settings
from tests.tools.selftest import is_identification_card, key_of, reply_key


def _noise_png(seed: int) -> bytes:
    rng = random.Random(seed)
    img = Image.new("RGB", (96, 96))
    img.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(96 * 96)])
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


async def _get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as resp:
        return resp.status, await resp.text()


def _sample(text: str, name: str) -> float:
    """The value of the sample named exactly ``name`` (with its labels, if any)."""
    for line in text.splitlines():
        if line.rsplit(" ", 1)[0] == name:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_health_ready_and_metrics(services: Services) -> None:
    services.platforms_expected = ("telegram",)
    server = await start_health_server(services, "127.0.0.1", 0)
    try:
        assert server.port > 0
        assert await _get(server.port, "/healthz") == (200, "ok\n")
        status, body = await _get(server.port, "/readyz")
        assert status == 503 and '"telegram": false' in body and '"state_db": true' in body
        services.platforms_up["telegram"] = True
        status, body = await _get(server.port, "/readyz")
        assert status == 200 and '"ready": true' in body

        _, before = await _get(server.port, "/metrics")
        outcome = await services.identify.identify(_noise_png(1), platform="telegram", chat_id=-100123456)
        assert outcome.identification is not None
        await services.identify.identify(b"not an image", platform="telegram", chat_id=-100123456)
        status, after = await _get(server.port, "/metrics")
        assert status == 200
        assert _sample(after, "reptile_photos_identified_total") == \
            _sample(before, "reptile_photos_identified_total") + 1
        rejected = 'reptile_answers_total{kind="rejected"}'
        assert _sample(after, rejected) == _sample(before, rejected) + 1
        assert _sample(after, "reptile_inference_seconds_count") >= 1
        assert "reptile_inference_queue_depth 0.0" in after
        for secret in ("100123456", FAKE_TOKEN, FAKE_TOKEN.split(":")[1]):
            assert secret not in after and secret not in body
    finally:
        await server.close()


async def test_readyz_follows_the_state_database(fake: FakeTelegram, species_db) -> None:
    """PostgreSQL refuses connections for a while: /readyz says so, a photo still gets its answer,
    nothing crashes, and /readyz is ready again when the database is back."""
    url = await fresh_postgres_database()
    name = url.rpartition("/")[2]
    svc = await open_services(telegram_settings(fake, species_db, state_db_url=url))
    server = await start_health_server(svc, "127.0.0.1", 0)
    admin = await _admin()
    try:
        assert (await _get(server.port, "/readyz"))[0] == 200
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        status, body = await _get(server.port, "/readyz")
        assert status == 503 and '"state_db": false' in body
        assert (await _get(server.port, "/healthz"))[0] == 200  # alive, just not ready
        outcome = await svc.identify.identify(_noise_png(2), platform="telegram", chat_id=5)
        assert outcome.card.kind in (CardKind.REPTILE, CardKind.NOT_REPTILE)  # answered despite the log
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        status, body = await _get(server.port, "/readyz")
        assert status == 200, body
        assert await svc.state.identification_count() >= 0
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
        await server.close()
        await svc.close()
        await drop_postgres_database(url)


def test_metric_labels_are_fixed_words() -> None:
    samples = [s for m in metrics.REGISTRY.collect() for s in m.samples]
    labels = {s.labels["kind"] for s in samples if "kind" in s.labels}
    assert labels <= set(metrics.ANSWER_KINDS)


async def test_a_running_bot_rides_out_a_state_database_outage(fake: FakeTelegram, tmp_path) -> None:
    """``reptile-museum run`` as a real process, its PostgreSQL reached through a TCP relay that is cut
    and restored (the server itself keeps running for everyone else): ``/readyz`` turns 503 with
    ``state_db: false`` and back to 200; a photo sent meanwhile gets its card, ``/score`` (which needs
    the database) the polite error; the process never dies and stops cleanly."""
    url = await fresh_postgres_database()
    parts = urlsplit(url)
    relay = await TcpRelay(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    bot = BotProcess("bot", {
        "TELEGRAM_BOT_TOKEN": FAKE_TOKEN, "TELEGRAM_BASE_URL": fake.base_url,
        "TELEGRAM_BASE_FILE_URL": fake.base_file_url, "TELEGRAM_WEBHOOK_URL": "", "DISCORD_BOT_TOKEN": "",
        "STATE_DB_URL": parts._replace(netloc=f"{parts.username}@127.0.0.1:{relay.port}").geturl(),
        "SPECIES_DB_PATH": str(PROJECT_ROOT / "species.sqlite"), "INFERENCE_WORKERS": "1",
    }, tmp_path, free_port())
    jpeg = io.BytesIO()
    photo(np.random.default_rng(3), (40, 160, 60), "boxes").save(jpeg, "JPEG")

    async def reply_to(text: str | None = None, with_photo: bool = False) -> str:
        chat = fake.private_chat(6_100_000 + len(fake.requests))
        fields = {"photo": fake.photo_sizes(jpeg.getvalue(), 160, 120)} if with_photo else {"text": text}
        msg = fake.push_message(chat=chat, **fields)
        rec = await fake.wait_for("sendMessage", lambda p: reply_key(p) == key_of(msg), timeout=60)
        return str(rec.params["text"])

    async def ready_is(status: int) -> bool:
        return await bot.readyz() == status

    try:
        await bot.start()
        await bot.wait_ready()
        assert is_identification_card(await reply_to(with_photo=True))

        await relay.cut()
        await poll_until("/readyz 503", lambda: ready_is(503), 60)
        status, body = await _get(bot.health_port, "/readyz")
        assert status == 503 and '"state_db": false' in body and '"telegram": true' in body
        assert (await _get(bot.health_port, "/healthz"))[0] == 200
        assert is_identification_card(await reply_to(with_photo=True))  # the card, without its log line
        assert await reply_to("/score") == messages.ERROR_TEXT  # polite, not silence
        assert bot.alive

        await relay.restore()
        await poll_until("/readyz 200 again", lambda: ready_is(200), 60)
        assert is_identification_card(await reply_to(with_photo=True))
        assert bot.alive, bot.log()[-3000:]
        assert await bot.stop() == 0, bot.log()[-3000:]
        assert "Traceback" not in bot.log(), bot.log()[-3000:]
    finally:
        await bot.kill()
        await relay.cut()
        await drop_postgres_database(url)
