"""Fixtures shared by the Telegram end-to-end tests (registered in ``tests/conftest.py``).

``fake`` is a running fake Bot API server on 127.0.0.1, ``species_db`` the real ``species.sqlite`` when it
has been built (else the small real-schema database of ``tests/species_rows.py``), and ``services`` the
real services pointed at both. Test modules with their own ``fake`` / ``services`` (Discord, CLI) override
these by defining fixtures of the same name.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.services import Services, open_services
from bot.settings import PROJECT_ROOT, Settings
from tests.fakes.fake_telegram import FAKE_TOKEN, FakeTelegram
from tests.species_rows import build_db

REAL_DB = PROJECT_ROOT / "species.sqlite"
#: Upper bound of every wait in the Telegram end-to-end tests, in seconds.
WAIT_S = 20.0


def telegram_settings(
    fake: FakeTelegram, species_db: Path, token: str = FAKE_TOKEN, **extra: object
) -> Settings:
    """Settings for a bot that talks to ``fake`` (polling, no Discord) and reads ``species_db``."""
    values: dict[str, object] = {
        "telegram_bot_token": token,
        "telegram_base_url": fake.base_url,
        "telegram_base_file_url": fake.base_file_url,
        "telegram_webhook_url": None,
        "discord_bot_token": None,
        "species_db_path": species_db,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


async def wait_polling(task: asyncio.Task[None], fake: FakeTelegram) -> None:
    """Wait for the first getUpdates; fail at once if serve_telegram died instead."""
    poll = asyncio.ensure_future(fake.wait_for("getUpdates", timeout=WAIT_S))
    done, _ = await asyncio.wait({task, poll}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        poll.cancel()
        task.result()  # raises the start-up error
        raise AssertionError("serve_telegram returned before polling")
    poll.result()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as tg:
        yield tg


@pytest.fixture
def species_db(tmp_path: Path) -> Path:
    return REAL_DB if REAL_DB.is_file() else build_db(tmp_path / "species.sqlite")


@pytest.fixture
async def services(fake: FakeTelegram, species_db: Path) -> AsyncIterator[Services]:
    svc = await open_services(telegram_settings(fake, species_db))
    try:
        yield svc
    finally:
        await svc.close()
