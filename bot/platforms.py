"""Run the configured platforms in one asyncio process, sharing one set of services.

Each platform runs under a supervisor: when it fails to start or drops, it is restarted with
exponential backoff while the others keep serving. With no token set, the terminal chat runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

from bot.services import Services, open_services
from bot.settings import Settings

log = logging.getLogger(__name__)

Serve = Callable[[Services], Awaitable[None]]

#: Backoff between restarts of a failed platform, seconds: doubles from 1 up to 300.
BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 300.0
#: A platform that served this long before failing is considered healthy: the backoff resets.
HEALTHY_AFTER_S = 60.0


async def supervise(name: str, serve: Serve, services: Services) -> None:
    """Run ``serve(services)`` forever, restarting it with backoff when it raises or returns.

    Cancellation (shutdown) propagates. Every failure is logged in one line with its reason.
    """
    delay = BACKOFF_START_S
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            log.info("%s: starting", name)
            await serve(services)
            log.warning("%s: stopped serving; restarting in %.0f s", name, delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("%s: failed (%s: %s); restarting in %.0f s", name, type(exc).__name__, exc, delay)
        if loop.time() - started > HEALTHY_AFTER_S:
            delay = BACKOFF_START_S
        await asyncio.sleep(delay)
        delay = min(delay * 2, BACKOFF_MAX_S)


def _platforms(settings: Settings) -> list[tuple[str, Serve]]:
    platforms: list[tuple[str, Serve]] = []
    if settings.has_telegram():
        from bot.adapters.telegram.app import serve_telegram

        platforms.append(("telegram", serve_telegram))
    if settings.has_discord():
        from bot.adapters.discord.client import serve_discord

        platforms.append(("discord", serve_discord))
    return platforms


async def run_platforms(settings: Settings) -> int:
    """Open the shared services and run every configured platform (or the terminal chat) until
    SIGINT/SIGTERM. Returns the exit status (0 on a clean stop)."""
    services = await open_services(settings)
    try:
        platforms = _platforms(settings)
        if not platforms:
            from bot.adapters.terminal import run_terminal

            await run_terminal(services)
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        tasks = [asyncio.create_task(supervise(n, s, services), name=n) for n, s in platforms]
        log.info("serving: %s", ", ".join(n for n, _ in platforms))
        await stop.wait()
        log.info("shutting down")
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return 0
    finally:
        await services.close()
