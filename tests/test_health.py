"""Health and metrics (issue 13): ``/healthz``, ``/readyz`` and ``/metrics`` on a port of their own, with
no chat id or token in any answer; ``/readyz`` follows the state database going down and coming back."""

from __future__ import annotations

import io
import random

import aiohttp
from PIL import Image

from bot.core import metrics
from bot.core.card import CardKind
from bot.health import start_health_server
from bot.services import Services, open_services
from tests.fakes.fake_telegram import FAKE_TOKEN, FakeTelegram
from tests.state_backends import _admin, drop_postgres_database, fresh_postgres_database
from tests.telegram_fixtures import telegram_settings


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
