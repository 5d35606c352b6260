"""Fake platform servers on 127.0.0.1 that the real libraries talk to: the Telegram Bot API
(:mod:`tests.fakes.fake_telegram`, for python-telegram-bot) and the Discord REST API and gateway
(:mod:`tests.fakes.fake_discord`, for discord.py). Used by the tests and by ``make selftest``."""
