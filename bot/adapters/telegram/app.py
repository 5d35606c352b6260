"""Build and run the python-telegram-bot :class:`~telegram.ext.Application`.

:func:`serve_telegram` runs inside the supervisor's event loop next to other platforms, so it never uses
``Application.run_polling`` (which owns the loop and installs signal handlers). It drives the documented
lifecycle by hand instead: ``initialize`` → ``start`` → ``updater.start_polling`` (or
``start_webhook``), waits until cancelled, then ``updater.stop`` → ``stop`` → ``shutdown``. Quiz rounds
are tasks of the :class:`~.quiz.QuizRunner`: they are cancelled (and their chats told) before that.

The bot token is part of every Bot API URL, and python-telegram-bot and httpx log those URLs at DEBUG
and INFO level. :func:`build_application` therefore installs a redacting filter on their loggers, and
startup errors are re-raised without the token (PTB's ``InvalidToken`` message contains it).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder

from bot.adapters.telegram.handlers import QUIZ_KEY, redact, register_handlers
from bot.adapters.telegram.quiz import QuizRunner, post_interrupted
from bot.services import Services

log = logging.getLogger(__name__)

#: Updates processed at the same time. Inference runs in the shared worker pool (which answers "busy"
#: when full), so a classroom sending 20 photos at once is not served one by one.
CONCURRENT_UPDATES = 16

#: Update types we ask Telegram for: new messages, quiz poll answers and button presses (no edits,
#: channel posts or inline queries).
ALLOWED_UPDATES = [Update.MESSAGE, Update.POLL_ANSWER, Update.CALLBACK_QUERY]

#: Seconds Telegram holds a getUpdates long poll open.
POLL_TIMEOUT_S = 30

#: Retries of a request Telegram answered with "Too Many Requests" (RetryAfter).
RATE_LIMIT_RETRIES = 2

#: Loggers that may print Bot API URLs (which contain the token) or request parameters.
_LEAKY_LOGGER_PREFIXES = ("telegram", "httpx", "httpcore")


class TelegramStartError(RuntimeError):
    """Telegram could not be started; the message never contains the token."""


class _SecretRedactor(logging.Filter):
    """Logger filter replacing known secrets and token-shaped strings with ``***``."""

    def __init__(self) -> None:
        super().__init__("reptile-museum-telegram-redactor")
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let logging report it as usual
            return True
        record.msg = redact(message, sorted(self.secrets))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, sorted(self.secrets))
        return True


_REDACTOR = _SecretRedactor()


def install_log_redaction(secret_values: Iterable[str]) -> None:
    """Add ``secret_values`` to the redactor and attach it to every telegram/httpx/httpcore logger.

    A logger filter only sees records created on that very logger, so it is attached to each existing
    logger under those prefixes (PTB and httpx create theirs at import time). Idempotent.
    """
    _REDACTOR.secrets.update(s for s in secret_values if s and len(s) >= 8)
    names = set(_LEAKY_LOGGER_PREFIXES) | {
        name for name in logging.Logger.manager.loggerDict
        if name.split(".")[0] in _LEAKY_LOGGER_PREFIXES
    }
    for name in names:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


def _token(services: Services) -> str:
    secret = services.settings.telegram_bot_token
    token = secret.get_secret_value().strip() if secret is not None else ""
    if not token:
        raise TelegramStartError("TELEGRAM_BOT_TOKEN is not set")
    return token


def build_application(services: Services) -> Application:
    """The configured Application: token, Bot API base URLs, rate limiter and every handler.

    Raises:
        TelegramStartError: when no token is configured.
    """
    settings = services.settings
    token = _token(services)
    webhook_secret = settings.telegram_webhook_secret
    install_log_redaction([token, webhook_secret.get_secret_value() if webhook_secret else ""])
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .rate_limiter(AIORateLimiter(max_retries=RATE_LIMIT_RETRIES))
        .concurrent_updates(CONCURRENT_UPDATES)
        .build()
    )
    register_handlers(application, services)
    return application


async def _start_updates(application: Application, services: Services) -> str:
    """Start polling or the webhook server; returns a short description of the mode for the log."""
    settings = services.settings
    updater = application.updater
    assert updater is not None  # built by ApplicationBuilder
    if not settings.telegram_webhook_url:
        await updater.start_polling(timeout=POLL_TIMEOUT_S, allowed_updates=ALLOWED_UPDATES)
        return "long polling"
    url = settings.telegram_webhook_url
    secret = settings.telegram_webhook_secret
    secret_token = secret.get_secret_value() if secret else secrets.token_urlsafe(32)
    install_log_redaction([secret_token])
    await updater.start_webhook(
        listen=settings.telegram_webhook_listen,
        port=settings.telegram_webhook_port,
        url_path=urlsplit(url).path.lstrip("/"),
        webhook_url=url,
        allowed_updates=ALLOWED_UPDATES,
        secret_token=secret_token,
    )
    return f"webhook on {settings.telegram_webhook_listen}:{settings.telegram_webhook_port}"


async def _stop(application: Application) -> None:
    """Stop the updater and the application (whatever was started), then shut everything down."""
    try:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
    finally:
        await application.shutdown()
        # After a failed initialize() the Application is not "initialized", so shutdown() above skips
        # the bot, whose HTTP clients may already be open. Bot.shutdown() is a no-op when closed.
        await application.bot.shutdown()


async def serve_telegram(services: Services) -> None:
    """Serve Telegram until cancelled: long polling, or a webhook when ``TELEGRAM_WEBHOOK_URL`` is set.

    On cancellation the updater and the application are stopped and shut down cleanly, then
    :class:`asyncio.CancelledError` propagates.

    Raises:
        TelegramStartError: when the token is missing or rejected, or Telegram cannot be reached at
            start-up (the supervisor retries with backoff). The message never contains the token.
    """
    application = build_application(services)
    token = application.bot.token
    try:
        try:
            await application.initialize()
        except InvalidToken:
            raise TelegramStartError("Telegram rejected the bot token (check TELEGRAM_BOT_TOKEN)") from None
        except TelegramError as exc:
            raise TelegramStartError(
                f"cannot reach the Bot API ({type(exc).__name__}: {redact(str(exc), [token])[:200]})"
            ) from None
        await application.start()
        try:
            mode = await _start_updates(application, services)
        except TelegramError as exc:
            raise TelegramStartError(
                f"cannot start receiving updates ({type(exc).__name__}: {redact(str(exc), [token])[:200]})"
            ) from None
        log.info("telegram: serving as @%s (%s)", application.bot.username, mode)
        await post_interrupted(application.bot, services)
        await asyncio.Event().wait()  # until cancelled
    finally:
        runner: QuizRunner | None = application.bot_data.get(QUIZ_KEY)
        try:
            if runner is not None:
                await runner.shutdown(application.bot)
        finally:
            await _stop(application)
        log.info("telegram: stopped")
