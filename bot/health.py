"""Health and metrics over HTTP (``HEALTH_PORT``): ``/healthz``, ``/readyz`` and ``/metrics``.

* ``GET /healthz``: 200 ``ok`` while the process's event loop answers (liveness).
* ``GET /readyz``: 200 when the model is loaded, the state database answers and every configured
  platform is connected; else 503. The JSON body names each check (``model``, ``state_db``, and one
  per platform) with true/false, nothing else: no ids, no URLs, no tokens.
* ``GET /metrics``: :mod:`bot.core.metrics` in the Prometheus text format.

Served by aiohttp on the bot's own event loop; ``port=0`` picks a free port (tests).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from bot.core import metrics
from bot.services import Services

log = logging.getLogger(__name__)


async def readiness(services: Services) -> dict[str, bool]:
    """Each readiness check by name: ``model``, ``state_db`` and every configured platform."""
    checks = {
        "model": services.runner is not None and not getattr(services.runner, "_closed", False),
        "state_db": await services.state.ping(),
    }
    for name in services.platforms_expected:
        checks[name] = bool(services.platforms_up.get(name))
    return checks


def make_app(services: Services) -> web.Application:
    """The aiohttp application serving the three routes for ``services``."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_request: web.Request) -> web.Response:
        checks = await readiness(services)
        return web.json_response({"ready": all(checks.values()), "checks": checks},
                                 status=200 if all(checks.values()) else 503)

    async def metrics_route(_request: web.Request) -> web.Response:
        body = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_route)
    return app


@dataclass
class HealthServer:
    """A running health server; :attr:`port` is the port it really listens on."""

    runner: web.AppRunner
    port: int

    async def close(self) -> None:
        """Stop listening."""
        await self.runner.cleanup()


async def start_health_server(services: Services, host: str, port: int) -> HealthServer:
    """Listen on ``host:port`` (``port=0``: any free port) and serve :func:`make_app`.

    Raises:
        OSError: the port cannot be bound.
    """
    runner = web.AppRunner(make_app(services), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    log.info("health: serving /healthz, /readyz and /metrics on port %d", bound)
    return HealthServer(runner, int(bound))
