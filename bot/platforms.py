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

from bot.core import metrics
from bot.services import Services, open_services
from bot.settings import Settings

log = logging.getLogger(__name__)

Serve = Callable[[Services], Awaitable[None]]

#: Backoff between restarts of a failed platform, seconds: doubles from 1 up to 300.
BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 300.0
#: A platform that served this long before failing is considered healthy: the backoff resets.
HEALTHY_AFTER_S = 60.0
#: On SIGTERM/SIGINT, how long the platforms get to finish what is in flight before the databases close.
SHUTDOWN_TIMEOUT_S = 15.0


async def supervise(name: str, serve: Serve, services: Services) -> None:
    """Run ``serve(services)`` forever, restarting it with backoff when it raises or returns.

    Cancellation (shutdown) propagates. Every failure is logged in one line with its reason.
    """
    delay = BACKOFF_START_S
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    while True:
        started = loop.time()
        try:
            log.info("%s: starting", name)
            await serve(services)
            _raise_if_stopping(me)
            log.warning("%s: stopped serving; restarting in %.0f s", name, delay)
        except asyncio.CancelledError:
            _mark_down(services, name)
            raise
        except Exception as exc:
            _mark_down(services, name)
            _raise_if_stopping(me)
            metrics.PLATFORM_ERRORS.labels(platform=name).inc()
            log.error("%s: failed (%s: %s); restarting in %.0f s", name, type(exc).__name__, exc, delay)
        else:
            _mark_down(services, name)
            metrics.PLATFORM_ERRORS.labels(platform=name).inc()
        if loop.time() - started > HEALTHY_AFTER_S:
            delay = BACKOFF_START_S
        await asyncio.sleep(delay)
        delay = min(delay * 2, BACKOFF_MAX_S)


def _mark_down(services: Services | None, name: str) -> None:
    """``name`` is not connected (for ``/readyz``)."""
    up = getattr(services, "platforms_up", None)
    if up is not None:
        up[name] = False


def _raise_if_stopping(task: asyncio.Task | None) -> None:
    """A platform that returned (or failed) while shutting down is not restarted: its ``serve_*``
    may have absorbed the cancellation to finish its work, so the shutdown continues here."""
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _platforms(settings: Settings) -> list[tuple[str, Serve]]:
    platforms: list[tuple[str, Serve]] = []
    if settings.has_telegram():
        from bot.adapters.telegram.app import serve_telegram

        platforms.append(("telegram", serve_telegram))
    if settings.has_discord():
        from bot.adapters.discord.client import serve_discord

        platforms.append(("discord", serve_discord))
    return platforms


async def stop_platforms(tasks: list[asyncio.Task[None]], timeout: float) -> None:
    """Cancel the platform supervisors and wait up to ``timeout`` seconds for them to finish.

    Cancelling a supervisor cancels its ``serve_*`` coroutine, which stops fetching new work and then
    finishes (or answers) what is in flight before returning; a platform still busy after ``timeout``
    is abandoned with a warning so the process can still close its databases and exit.
    """
    for t in tasks:
        t.cancel()
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for t in pending:
        log.warning("%s: did not stop within %.0f s; abandoning it", t.get_name(), timeout)
    for t in done:
        if not t.cancelled() and t.exception() is not None:
            exc = t.exception()
            log.error("%s: failed while stopping (%s: %s)", t.get_name(), type(exc).__name__, exc)


async def run_platforms(settings: Settings) -> int:
    """Open the shared services and run every configured platform (or the terminal chat) until
    SIGINT/SIGTERM. Returns the exit status (0 on a clean stop).

    On SIGINT or SIGTERM the platforms stop taking new work and finish what is in flight (at most
    :data:`SHUTDOWN_TIMEOUT_S`), then the worker pool and both databases are closed.
    """
    services = await open_services(settings)
    clean = False
    try:
        platforms = _platforms(settings)
        if not platforms:
            from bot.adapters.terminal import run_terminal

            await run_terminal(services)
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Not an unfinished stub: add_signal_handler raises NotImplementedError on Windows event loops
            # and RuntimeError outside the main thread (e.g. an embedding host); there Ctrl+C still
            # arrives as KeyboardInterrupt / task cancellation, which the finally blocks handle.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, _on_signal, sig, stop)
                installed.append(sig)
        services.platforms_expected = tuple(n for n, _ in platforms)
        health = None
        if settings.health_port is not None:
            from bot.health import start_health_server

            health = await start_health_server(services, settings.health_listen, settings.health_port)
        tasks = [asyncio.create_task(supervise(n, s, services), name=n) for n, s in platforms]
        log.info("serving: %s", ", ".join(n for n, _ in platforms))
        try:
            await stop.wait()
            log.info("shutting down: no new work; finishing what is in flight")
        finally:
            await stop_platforms(tasks, SHUTDOWN_TIMEOUT_S)
            for sig in installed:
                loop.remove_signal_handler(sig)
            if health is not None:
                await health.close()
        clean = True
        return 0
    finally:
        await services.close()
        log.info("closed the worker pool and the databases")
        if clean:
            log.info("shut down cleanly")


def _on_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    if stop.is_set():
        log.info("%s received again; still shutting down", sig.name)
        return
    log.info("%s received", sig.name)
    stop.set()
