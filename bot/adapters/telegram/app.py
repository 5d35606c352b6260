"""Build and run the python-telegram-bot :class:`~telegram.ext.Application`.

:func:`serve_telegram` runs inside the supervisor's event loop next to other platforms, so it never uses
``Application.run_polling`` (which owns the loop and installs signal handlers). It uses PTB's own
lifecycle instead: ``async with application`` (``initialize`` … ``shutdown``), ``start``,
``updater.start_polling`` (or the bot's own :class:`~.webhook.WebhookServer`), waits until cancelled,
then stops gracefully: ``updater.stop`` or the webhook server's stop first (no new updates), then the
updates already received are handled and answered
(bounded by :attr:`TelegramTuning.drain_timeout_s`, see :meth:`BoundedUpdateProcessor.drain`), then quiz
rounds are cancelled (and their chats told), then ``stop``; leaving the ``async with`` shuts down.

Back-pressure: the application's update processor is a :class:`BoundedUpdateProcessor` (PTB's
documented extension point for concurrent updates) and its update queue a plain bounded
``asyncio.Queue``: at most :data:`CONCURRENT_UPDATES` updates are handled at once and
:attr:`TelegramTuning.max_pending_updates` wait in memory; beyond that the updater stops fetching and the
rest wait on Telegram's side (nothing is lost). Photos beyond the inference queue get the polite "busy"
reply from the core.

Network faults: ``getUpdates`` errors are retried by PTB's updater with backoff (logged in one line by
:func:`_polling_error`); 429 answers are retried by PTB's ``AIORateLimiter`` after ``retry_after``; the
handlers retry replies and downloads on network errors themselves (``handlers.with_retries``).

The bot token is part of every Bot API URL, and python-telegram-bot and httpx log those URLs. The one
redacting filter of :mod:`bot.logging_setup` covers them: :func:`build_application` adds the token and
webhook secret to it and registers PTB's expected network faults to be folded into one line. Startup
errors are re-raised without the token (PTB's ``InvalidToken`` message contains it).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from telegram import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
)

from bot.adapters.telegram.context import CONTEXT_TYPES
from bot.adapters.telegram.handlers import register_handlers
from bot.adapters.telegram.quiz import post_interrupted
from bot.adapters.telegram.webhook import WebhookServer
from bot.core.messages import COMMAND_MENU
from bot.logging_setup import ExpectedFaults, add_secrets, fold_expected, redact
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


@dataclass(frozen=True, slots=True)
class TelegramTuning:
    """Network and back-pressure knobs. The defaults are the production values; tests and the selftest
    use shorter timeouts (and a faster rate limit, since the fake Bot API has no flood limit).

    Attributes:
        request_timeout_s: connect/read/write timeout of one Bot API call (PTB's default is 5 s).
        overall_max_rate: Bot API calls per second with a chat (Telegram's limit: about 30).
        group_max_rate: messages per minute to one group (Telegram's limit: about 20).
        max_pending_updates: updates waiting in memory (the update queue's size); at most
            ``min(CONCURRENT_UPDATES, max_pending_updates)`` are handled at once.
        drain_timeout_s: on stop, how long updates already received may take to be answered.
    """

    request_timeout_s: float = 5.0
    overall_max_rate: float = 30.0
    group_max_rate: float = 20.0
    max_pending_updates: int = 64
    drain_timeout_s: float = 10.0


class BoundedUpdateProcessor(BaseUpdateProcessor):
    """Handles at most ``limit`` updates at once, and makes PTB's fetcher wait while that many are.

    PTB's fetcher hands every update to :meth:`process_update`. In PTB's concurrent mode
    (``max_concurrent_updates > 1``) it first starts a task per update, so a flood of updates would
    become a flood of waiting tasks. This processor is therefore given to PTB with
    ``max_concurrent_updates=1``: the fetcher awaits each call, and :meth:`do_process_update` waits for
    one of ``limit`` slots, starts the update's handling in a task of its own and returns. While
    ``limit`` updates are being handled the fetcher waits, the bounded update queue fills up and then
    the updater stops fetching: the rest wait at Telegram.

    Args:
        limit: updates handled at the same time (>= 1).

    Raises:
        ValueError: when ``limit`` < 1.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(max_concurrent_updates=1)  # the fetcher's calls, one at a time: see above
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._running: set[asyncio.Task[None]] = set()
        self._waiting = 0
        self._closed = False
        self.dropped = 0

    @property
    def in_flight(self) -> int:
        """Updates being handled now."""
        return len(self._running)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for a free slot, then start handling ``update`` (``coroutine``) in its own task. After
        :meth:`drain` gave up, updates are dropped instead (counted in :attr:`dropped`)."""
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        if self._closed:
            self._slots.release()
            cast(Any, coroutine).close()  # never started: close it so nothing warns
            self.dropped += 1
            return
        task = asyncio.ensure_future(self._handle(coroutine))
        self._running.add(task)
        task.add_done_callback(self._finished)

    async def _handle(self, coroutine: Awaitable[Any]) -> None:
        try:
            await coroutine  # Application.process_update: handler errors go to the error handler
        except Exception:
            log.exception("telegram: handling an update failed")

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()

    async def drain(self, queue: asyncio.Queue[Any], timeout: float) -> None:
        """Let the updates already received (``queue``: the application's update queue) be handled and
        answered, for at most ``timeout`` seconds; then drop the ones not started and cancel the ones
        still running (one log line counts them). Call it after the updater stopped."""
        if queue.empty() and not self._running and not self._waiting:
            return

        async def everything_answered() -> None:
            await queue.join()  # every received update was started...
            while self._running:  # ...and finished
                await asyncio.wait(set(self._running))

        try:
            await asyncio.wait_for(everything_answered(), timeout)
        except TimeoutError:
            pass
        else:
            log.info("telegram: answered every update received before the stop")
            return
        self._closed = True
        not_started = queue.qsize() + self._waiting
        running = set(self._running)
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=2.0)
        log.warning("telegram: stopped after %.0f s with %d update(s) unanswered "
                    "(%d cancelled, %d not started)",
                    timeout, not_started + len(running), len(running), not_started)

    async def initialize(self) -> None:
        """Ready to take updates (again)."""
        self._closed = False

    async def shutdown(self) -> None:
        """Cancel any handling still running (normally none: :meth:`drain` ran before)."""
        self._closed = True
        running = set(self._running)
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=2.0)


class TelegramStartError(RuntimeError):
    """Telegram could not be started; the message never contains the token."""


#: PTB's expected network faults (e.g. "Can not load invalid JSON data", logged with a traceback and the
#: whole response body): one line each; the JSON one is detail, since the failure it causes is logged by
#: us (one line per failure).
_PTB_FAULTS = ExpectedFaults("telegram", (TelegramError, ValueError),
                             demoted=("Can not load invalid JSON data",))


def _token(services: Services) -> str:
    secret = services.settings.telegram_bot_token
    token = secret.get_secret_value().strip() if secret is not None else ""
    if not token:
        raise TelegramStartError("TELEGRAM_BOT_TOKEN is not set")
    return token


def build_application(services: Services, tuning: TelegramTuning | None = None) -> Application:
    """The configured Application: token, Bot API base URLs, timeouts, rate limiter, the
    :class:`BoundedUpdateProcessor` with a bounded update queue, the typed context
    (:data:`~.context.CONTEXT_TYPES`) and every handler.

    Raises:
        TelegramStartError: when no token is configured.
    """
    tuning = tuning or TelegramTuning()
    settings = services.settings
    token = _token(services)
    webhook_secret = settings.telegram_webhook_secret
    add_secrets([token, webhook_secret.get_secret_value() if webhook_secret else ""])
    fold_expected(_PTB_FAULTS)
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
        .context_types(CONTEXT_TYPES)
        .concurrent_updates(BoundedUpdateProcessor(min(CONCURRENT_UPDATES, tuning.max_pending_updates)))
        .update_queue(asyncio.Queue(maxsize=tuning.max_pending_updates))
        .build()
    )
    register_handlers(application, services)
    return application


def _webhook_server(application: Application, services: Services,
                    tuning: TelegramTuning) -> WebhookServer | None:
    """The webhook server when ``TELEGRAM_WEBHOOK_URL`` is set (not started yet), else ``None``.

    It is the bot's own, not PTB's ``start_webhook``: it answers Telegram only after the update was
    handled, so an update whose replica died is delivered again (see bot/adapters/telegram/webhook.py).
    Without ``TELEGRAM_WEBHOOK_SECRET`` a random secret is used for this process."""
    settings = services.settings
    if not settings.telegram_webhook_url:
        return None
    secret = settings.telegram_webhook_secret
    secret_token = secret.get_secret_value() if secret else secrets.token_urlsafe(32)
    add_secrets([secret_token])
    return WebhookServer(
        application, services.state, application.bot.token.split(":")[0],
        path=urlsplit(settings.telegram_webhook_url).path, secret_token=secret_token,
        limit=min(CONCURRENT_UPDATES, tuning.max_pending_updates),
        lease_s=settings.telegram_update_lease_s, shutdown_timeout_s=tuning.drain_timeout_s,
    )


async def _start_updates(application: Application, services: Services,
                         webhook: WebhookServer | None) -> str:
    """Start polling, or ``webhook`` and ``setWebhook``; returns a short description of the mode for
    the log."""
    settings = services.settings
    updater = application.updater
    assert updater is not None  # built by ApplicationBuilder
    if webhook is None:
        await updater.start_polling(
            timeout=POLL_TIMEOUT_S, allowed_updates=ALLOWED_UPDATES,
            error_callback=_polling_error(application.bot.token),
        )
        return "long polling"
    port = await webhook.start(settings.telegram_webhook_listen, settings.telegram_webhook_port)
    services.listening["telegram_webhook"] = port
    await application.bot.set_webhook(
        url=settings.telegram_webhook_url, allowed_updates=ALLOWED_UPDATES,
        secret_token=webhook.secret_token, max_connections=CONCURRENT_UPDATES,
    )  # if this fails, serve_telegram's clean-up stops the server
    return f"webhook on {settings.telegram_webhook_listen}:{port}"


def _polling_error(token: str) -> Callable[[TelegramError], None]:
    """PTB's updater retries failed ``getUpdates`` calls with backoff; its default callback logs each
    failure with a traceback. This one logs one line (without the token) instead."""

    def callback(exc: TelegramError) -> None:
        log.warning("telegram: getUpdates failed (%s: %s); retrying with backoff",
                    type(exc).__name__, redact(" ".join(str(exc).split()), [token])[:200])

    return callback


async def _stop_updates(application: Application, webhook: WebhookServer | None) -> None:
    """Stop fetching updates: polling, or the webhook server (its requests in flight may finish)."""
    if webhook is not None:
        await webhook.stop()
    if application.updater is not None and application.updater.running:
        await application.updater.stop()


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
    initialized = False
    webhook = _webhook_server(application, services, tuning)
    try:
        async with application:  # PTB's lifecycle: initialize() here, shutdown() on the way out
            initialized = True
            try:
                await application.start()
                await _serve(application, services, token, webhook)
            finally:
                await _stop_updates(application, webhook)
                processor = application.update_processor
                if isinstance(processor, BoundedUpdateProcessor):
                    await processor.drain(application.update_queue, tuning.drain_timeout_s)
                await application.bot_data.quiz.shutdown(application.bot)
                if application.running:
                    await application.stop()
    except InvalidToken:
        if initialized:
            raise
        raise TelegramStartError("Telegram rejected the bot token (check TELEGRAM_BOT_TOKEN)") from None
    except TelegramError as exc:
        if initialized:
            raise
        raise TelegramStartError(
            f"cannot reach the Bot API ({type(exc).__name__}: {redact(str(exc), [token])[:200]})"
        ) from None
    finally:
        # After a failed initialize() the Application is not "initialized", so its shutdown skips the
        # bot, whose HTTP clients may already be open. Bot.shutdown() is a no-op when closed.
        await application.bot.shutdown()
    log.info("telegram: stopped")


async def _serve(application: Application, services: Services, token: str,
                 webhook: WebhookServer | None) -> None:
    """Start receiving updates (long polling, or ``webhook``), announce the bot, then wait until
    cancelled."""
    try:
        mode = await _start_updates(application, services, webhook)
    except TelegramError as exc:
        raise TelegramStartError(
            f"cannot start receiving updates ({type(exc).__name__}: {redact(str(exc), [token])[:200]})"
        ) from None
    log.info("telegram: serving as @%s (%s)", application.bot.username, mode)
    services.platforms_up["telegram"] = True
    await register_command_menu(application)
    await post_interrupted(application.bot, services)
    await asyncio.Event().wait()  # until cancelled
