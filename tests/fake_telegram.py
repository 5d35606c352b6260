"""The fake Telegram Bot API server; it lives in :mod:`bot.testing.fake_telegram` (the selftest uses it)."""

from bot.testing.fake_telegram import BOT_USER, FAKE_TOKEN, FakeTelegram, Fault, Recorded, StoredFile

__all__ = ["BOT_USER", "FAKE_TOKEN", "FakeTelegram", "Fault", "Recorded", "StoredFile"]
