"""Build and run the python-telegram-bot :class:`~telegram.ext.Application`.

:func:`serve_telegram` runs inside the supervisor's event loop next to other platforms, so it never uses
``Application.run_polling`` (which owns the loop and installs signal handlers). It drives the documented
lifecycle by hand instead: ``initialize`` → ``start`` → ``updater.start_polling`` (or
``start_webhook``), waits until cancelled, then stops gracefully: ``updater.stop`` first (no new
updates), then the updates already received are handled and answered (bounded by
:attr:`TelegramTuning.drain_timeout_s`), then quiz rounds are cancelled (and their chats told), then
``stop`` → ``shutdown``.

Back-pressure: the application's update queue is a :class:`BoundedUpdateQueue`, so at most
:attr:`TelegramTuning.max_pending_updates` updates wait in memory and as many are being handled; beyond
that the updater stops fetching and the rest wait on Telegram's side (nothing is lost). Photos beyond the
inference queue get the polite "busy" reply from the core.

Network faults: ``getUpdates`` errors are retried by PTB's updater with backoff (logged in one line by
:func:`_polling_error`); 429 answers are retried by PTB's ``AIORateLimiter`` after ``retry_after``; the
handlers retry replies and downloads on network errors themselves (``handlers.with_retries``).

The bot token is part of every Bot API URL, and python-telegram-bot and httpx log those URLs at DEBUG
and INFO level. :func:`build_application` therefore installs a redacting filter on their loggers, and
startup errors are re-raised without the token (PTB's ``InvalidToken`` message contains it).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    ContextTypes,
    TypeHandler,
)

from bot.adapters.telegram.handlers import QUIZ_KEY, register_handlers
from bot.adapters.telegram.quiz import QuizRunner, post_interrupted
from bot.core.messages import COMMAND_MENU
from bot.logging_setup import redact
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

#: Key of the :class:`TelegramTuning` in ``application.bot_data``.
TUNING_KEY = "tuning"

#: Retries of a request Telegram answered with "Too Many Requests" (RetryAfter).
RATE_LIMIT_RETRIES = 2

@dataclass(frozen=True, slots=True)
class TelegramTuning:
    """Network and back-pressure knobs. The defaults are the production values; tests and the selftest
    use shorter timeouts (and a faster rate limit, since the fake Bot API has no flood limit).

    Attributes:
        request_timeout_s: connect/read/write timeout of one Bot API call (PTB's default is 5 s).
        overall_max_rate: Bot API calls per second with a chat (Telegram's limit: about 30).
        group_max_rate: messages per minute to one group (Telegram's limit: about 20).
        max_pending_updates: updates waiting in memory, and at most as many being handled.
        drain_timeout_s: on stop, how long updates already received may take to be answered.
    """

    request_timeout_s: float = 5.0
    overall_max_rate: float = 30.0
    group_max_rate: float = 20.0
    max_pending_updates: int = 64
    drain_timeout_s: float = 10.0


class BoundedUpdateQueue(asyncio.Queue[Any]):
    """The application's update queue, with back-pressure.

    PTB's update fetcher takes each update off the queue and starts a task for it at once, so a plain
    queue lets a flood of updates become a flood of tasks. Here :meth:`get` waits while ``limit``
    updates are being handled (an update is finished when the application calls :meth:`task_done`),
    and :meth:`put` waits while ``limit`` updates are queued, which pauses the updater's polling (or a
    webhook delivery) until there is room.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        super().__init__(maxsize=limit)
        self.limit = limit
        self.active = 0
        self._room = asyncio.Event()

    async def get(self) -> Any:
        while self.active >= self.limit:
            self._room.clear()
            await self._room.wait()
        item = await super().get()
        self.active += 1
        return item

    def task_done(self) -> None:
        super().task_done()
        self.active = max(0, self.active - 1)
        self._room.set()

    def drop_pending(self) -> int:
        """Remove every queued (not yet started) update; returns how many."""
        dropped = 0
        while True:
            try:
                self.get_nowait()
            except asyncio.QueueEmpty:
                return dropped
            dropped += 1
            self.active += 1  # get_nowait does not count; task_done below uncounts it
            self.task_done()


#: Loggers that may print Bot API URLs (which contain the token) or request parameters.
_LEAKY_LOGGER_PREFIXES = ("telegram", "httpx", "httpcore")


class TelegramStartError(RuntimeError):
    """Telegram could not be started; the message never contains the token."""


class _SecretRedactor(logging.Filter):
    """Logger filter replacing known secrets and token-shaped strings with ``***``; it also folds the
    tracebacks PTB logs for expected network faults into the line itself."""

    def __init__(self) -> None:
        super().__init__("reptile-museum-telegram-redactor")
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let logging report it as usual
            return True
        exc = record.exc_info[1] if record.exc_info else None
        if record.name.startswith("telegram") and isinstance(exc, TelegramError | ValueError):
            # An expected network fault (e.g. PTB's "Can not load invalid JSON data"): one line, no
            # traceback, and not the whole response body.
            message = f"{message[:300]} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
            record.exc_info = None
            record.exc_text = None
            if message.startswith("Can not load invalid JSON data"):
                # Detail: the failure it causes is logged by us (one line per failure). Kept as a
                # DEBUG line when DEBUG logging is on.
                if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
                    return False
                record.levelno, record.levelname = logging.DEBUG, "DEBUG"
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


def build_application(services: Services, tuning: TelegramTuning | None = None) -> Application:
    """The configured Application: token, Bot API base URLs, timeouts, rate limiter, the bounded update
    queue and every handler.

    Raises:
        TelegramStartError: when no token is configured.
    """
    tuning = tuning or TelegramTuning()
    settings = services.settings
    token = _token(services)
    webhook_secret = settings.telegram_webhook_secret
    install_log_redaction([token, webhook_secret.get_secret_value() if webhook_secret else ""])
    timeout = tuning.request_timeout_s
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .write_timeout(timeout)
        .get_updates_connect_timeout(timeout)
        .get_updates_write_timeout(timeout)
        .rate_limiter(AIORateLimiter(
            overall_max_rate=tuning.overall_max_rate,
            group_max_rate=tuning.group_max_rate,
            max_retries=RATE_LIMIT_RETRIES,
        ))
        .concurrent_updates(min(CONCURRENT_UPDATES, tuning.max_pending_updates))
        .update_queue(BoundedUpdateQueue(tuning.max_pending_updates))
        .build()
    )
    application.bot_data[TUNING_KEY] = tuning
    if settings.telegram_webhook_url:
        # Several webhook replicas share the state database: an update Telegram re-delivers (its
        # request timed out, or went to another replica) is handled once, by whoever claims it first.
        application.add_handler(TypeHandler(Update, _claim_update(services, token.split(":")[0])),
                                group=DEDUPE_GROUP)
    register_handlers(application, services)
    return application


#: Handler group of the de-duplication check: before every other handler.
DEDUPE_GROUP = -100


def _claim_update(services: Services, bot_id: str) -> Callable[[object, ContextTypes.DEFAULT_TYPE], Any]:
    """A PTB callback that claims each update's ``update_id`` in the shared state database and stops
    the handling of one already claimed (``ApplicationHandlerStop``). ``bot_id`` is the public numeric
    part of the token. When the database cannot be reached the update is handled (at least once beats
    never)."""

    async def claim(update: object, _context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = getattr(update, "update_id", None)
        if update_id is None:
            return
        try:
            first = await services.state.claim_update(bot_id, int(update_id))
        except Exception as exc:
            log.warning("telegram: could not claim update (%s); handling it", type(exc).__name__)
            return
        if not first:
            log.info("telegram: update delivered again; already handled")
            raise ApplicationHandlerStop

    return claim


async def _start_updates(application: Application, services: Services) -> str:
    """Start polling or the webhook server; returns a short description of the mode for the log."""
    settings = services.settings
    updater = application.updater
    assert updater is not None  # built by ApplicationBuilder
    if not settings.telegram_webhook_url:
        await updater.start_polling(
            timeout=POLL_TIMEOUT_S, allowed_updates=ALLOWED_UPDATES,
            error_callback=_polling_error(application.bot.token),
        )
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


def _polling_error(token: str) -> Callable[[TelegramError], None]:
    """PTB's updater retries failed ``getUpdates`` calls with backoff; its default callback logs each
    failure with a traceback. This one logs one line (without the token) instead."""

    def callback(exc: TelegramError) -> None:
        log.warning("telegram: getUpdates failed (%s: %s); retrying with backoff",
                    type(exc).__name__, redact(" ".join(str(exc).split()), [token])[:200])

    return callback


async def _stop_updates(application: Application) -> None:
    """Stop fetching updates (polling or webhook)."""
    if application.updater is not None and application.updater.running:
        await application.updater.stop()


async def _drain(application: Application, timeout: float) -> None:
    """Let updates already received be handled and answered, for at most ``timeout`` seconds; then drop
    the ones not started and cancel the ones still running (each drop is counted in one log line)."""
    queue = application.update_queue
    if not application.running or (queue.empty() and getattr(queue, "active", 0) == 0
                                    and not _handler_tasks(application)):
        return
    join = asyncio.ensure_future(queue.join())
    try:
        done, _ = await asyncio.wait({join}, timeout=timeout)
    finally:
        join.cancel()
    if done:
        log.info("telegram: answered every update received before the stop")
        return
    dropped = queue.drop_pending() if isinstance(queue, BoundedUpdateQueue) else 0
    running = _handler_tasks(application)
    for task in running:
        task.cancel()
    if running:
        await asyncio.wait(running, timeout=2.0)
    log.warning("telegram: stopped after %.0f s with %d update(s) unanswered (%d cancelled, %d not started)",
                timeout, dropped + len(running), len(running), dropped)


def _handler_tasks(application: Application) -> set[asyncio.Task[Any]]:
    """The tasks PTB runs concurrent updates in (it names them ``Application:<bot id>:process_...``)."""
    prefix = f"Application:{application.bot.id}:process_concurrent_update"
    return {t for t in asyncio.all_tasks() if not t.done() and t.get_name().startswith(prefix)}


async def _stop(application: Application) -> None:
    """Stop the updater and the application (whatever was started), then shut everything down."""
    try:
        await _stop_updates(application)
        if application.running:
            await application.stop()
    finally:
        await application.shutdown()
        # After a failed initialize() the Application is not "initialized", so shutdown() above skips
        # the bot, whose HTTP clients may already be open. Bot.shutdown() is a no-op when closed.
        await application.bot.shutdown()


async def register_command_menu(application: Application) -> bool:
    """Publish the command menu (``setMyCommands``): every command of
    :data:`bot.core.messages.COMMAND_MENU` for groups, all but the group-only ones for private chats.

    Returns:
        True when Telegram accepted both lists. A failure is logged as one warning and never stops
        the bot (the commands work without the menu).
    """
    private = [BotCommand(c, d) for c, d, group_only in COMMAND_MENU if not group_only]
    groups = [BotCommand(c, d) for c, d, _ in COMMAND_MENU]
    try:
        await application.bot.set_my_commands(private, scope=BotCommandScopeAllPrivateChats())
        await application.bot.set_my_commands(groups, scope=BotCommandScopeAllGroupChats())
    except TelegramError as exc:
        log.warning("telegram: could not publish the command menu (%s)", type(exc).__name__)
        return False
    return True


async def serve_telegram(services: Services, tuning: TelegramTuning | None = None) -> None:
    """Serve Telegram until cancelled: long polling, or a webhook when ``TELEGRAM_WEBHOOK_URL`` is set.

    On cancellation: no more updates are fetched, the updates already received are handled and answered
    (at most ``tuning.drain_timeout_s`` seconds), quiz rounds are ended, then the application is stopped
    and shut down and :class:`asyncio.CancelledError` propagates.

    Raises:
        TelegramStartError: when the token is missing or rejected, or Telegram cannot be reached at
            start-up (the supervisor retries with backoff). The message never contains the token.
    """
    tuning = tuning or TelegramTuning()
    application = build_application(services, tuning)
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
        services.platforms_up["telegram"] = True
        await register_command_menu(application)
        await post_interrupted(application.bot, services)
        await asyncio.Event().wait()  # until cancelled
    finally:
        runner: QuizRunner | None = application.bot_data.get(QUIZ_KEY)
        try:
            await _stop_updates(application)
            await _drain(application, tuning.drain_timeout_s)
            if runner is not None:
                await runner.shutdown(application.bot)
        finally:
            await _stop(application)
        log.info("telegram: stopped")
