"""The Telegram webhook server of a replica behind a load balancer (issue 13).

python-telegram-bot's own webhook server answers Telegram ``200 OK`` as soon as an update is queued,
before it is handled. When a replica dies in the middle of an update, Telegram therefore never delivers
it again and the photo or quiz answer is lost. This server (aiohttp, on the bot's event loop) answers
only once the update was handled:

1. a request without the right ``X-Telegram-Bot-Api-Secret-Token`` header is refused (403), a body
   that is not an update gets 400;
2. the update is claimed in the shared state database for ``lease_s`` seconds
   (:meth:`bot.state.updates.ProcessedUpdates.claim_update`): an update already handled is answered
   200 and skipped; one that another replica is handling right now gets 503, so Telegram delivers it
   again later (once that claim expired, when its replica died, whoever gets it claims and handles it);
3. the update goes through ``Application.process_update`` (every handler, as in polling mode), at most
   ``limit`` at once (the others wait for a slot; Telegram opens at most ``max_connections`` requests);
4. it is marked done, and only then answered 200.

So an update is handled once, or twice when a replica died after handling it but before answering
(Telegram would deliver it again then too). When the state database cannot be reached the update is
still handled (at least once beats never). Telegram's webhook rules:
https://core.telegram.org/bots/api#setwebhook (non-2xx answers are retried).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.state.updates import Claim

log = logging.getLogger(__name__)

#: The header in which Telegram sends the ``secret_token`` given to ``setWebhook``.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

#: Seconds an update stays claimed by the replica handling it. A photo is answered in about a second;
#: when the replica dies, another one may take the update over this long after the claim.
UPDATE_LEASE_S = 30.0

#: What a 503 tells Telegram (and nginx) about when to try again, seconds.
RETRY_AFTER_S = 5


class WebhookServer:
    """Receives Telegram's webhook requests for ``application`` and answers each after handling it.

    Args:
        application: the initialized, started PTB Application whose handlers handle the updates.
        state: the shared state store (``claim_update`` / ``finish_update``), or ``None`` for no
            de-duplication.
        bot_id: the numeric part of the token (public), the key of the claims.
        path: the URL path Telegram posts to (e.g. ``/tg/hook``).
        secret_token: the ``secret_token`` given to ``setWebhook`` (compared in constant time).
        limit: updates handled at the same time (>= 1).
        lease_s: seconds a claim lasts (> 0).
        shutdown_timeout_s: on :meth:`stop`, how long requests in flight may still take.
    """

    def __init__(self, application: Application, state: Any, bot_id: str, *, path: str,
                 secret_token: str, limit: int, lease_s: float = UPDATE_LEASE_S,
                 shutdown_timeout_s: float = 10.0) -> None:
        if limit < 1 or lease_s <= 0:
            raise ValueError("limit must be >= 1 and lease_s > 0")
        self._application = application
        self._state = state
        self._bot_id = bot_id
        self._path = "/" + path.lstrip("/")
        #: The ``secret_token`` to give ``setWebhook``.
        self.secret_token = secret_token
        self._secret = secret_token.encode()
        self._slots = asyncio.Semaphore(limit)
        self._lease_s = lease_s
        self._shutdown_timeout_s = shutdown_timeout_s
        self._runner: web.AppRunner | None = None
        #: The port the server listens on (the one the OS chose when started with port 0).
        self.port: int | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port`` (0: a free port); returns the bound port.

        Raises:
            OSError: the address cannot be bound.
        """
        app = web.Application()
        app.router.add_post(self._path, self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=self._shutdown_timeout_s)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # the bound port, also when ``port`` was 0
        return self.port

    async def stop(self) -> None:
        """Stop listening; requests in flight get ``shutdown_timeout_s`` to finish. A no-op when the
        server is not running."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return web.Response(status=403)
        try:
            data = await request.json()
            update = Update.de_json(data, self._application.bot) if isinstance(data, dict) else None
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError, ValueError):
            update = None
        if update is None:
            return web.Response(status=400)
        claimed = await self._claim(update.update_id)
        if claimed is Claim.DONE:
            log.info("telegram: update delivered again; already handled")
            return web.Response()
        if claimed is Claim.BUSY:
            log.info("telegram: update delivered again while another replica handles it; retry later")
            return web.Response(status=503, headers={"Retry-After": str(RETRY_AFTER_S)})
        async with self._slots:
            try:
                await self._application.process_update(update)
            except Exception as exc:  # handlers report their own errors; this is PTB itself failing
                log.error("telegram: update could not be handled (%s)", type(exc).__name__)
        if claimed is Claim.CLAIMED:
            await self._finish(update.update_id)
        return web.Response()

    async def _claim(self, update_id: int) -> Claim | None:
        """The claim, or ``None`` when there is no shared store or it cannot be reached (handle it)."""
        if self._state is None:
            return None
        try:
            return await self._state.claim_update(self._bot_id, update_id, self._lease_s)
        except Exception as exc:
            log.warning("telegram: could not claim update (%s); handling it", type(exc).__name__)
            return None

    async def _finish(self, update_id: int) -> None:
        try:
            await self._state.finish_update(self._bot_id, update_id)
        except Exception as exc:  # the claim expires instead: a re-delivery would be handled again
            log.warning("telegram: could not mark update handled (%s)", type(exc).__name__)
