"""Per-user photo rate limits shared by every replica through Redis (``REDIS_URL``), with the ``limits``
library's async Redis storage and moving-window strategy (https://limits.readthedocs.io).

Without ``REDIS_URL`` the limit stays in this process's memory, as before
(:class:`bot.core.ratelimit.UserRateLimiter` through :meth:`IdentifyService.rate_check`). If Redis stops
answering, photos are let through (one warning per outage) rather than refused: a broken limiter must not
stop children from getting answers.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from bot.core import messages as m
from bot.core.card import FactCard
from bot.core.cards import problem_card
from bot.core.identify import IdentifyService

log = logging.getLogger(__name__)

#: Prefix of every Redis key the limiter writes.
NAMESPACE = "reptile-museum:photos"


class RedisRateLimiter:
    """At most ``limit`` photos per ``window_s`` seconds per (platform, user), counted in Redis.

    Args:
        url: ``redis://host:port/db`` (``rediss://`` for TLS).
        limit: photos per window (>= 1), the ``USER_RATE_LIMIT`` setting.
        window_s: window in seconds (> 0, rounded up to whole seconds), ``USER_RATE_WINDOW_S``.
    """

    def __init__(self, url: str, limit: int, window_s: float) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = int(limit)
        self.window_s = float(window_s)
        self.storage = storage_from_string("async+" + url)
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.item = RateLimitItemPerSecond(self.limit, max(1, math.ceil(self.window_s)))
        self._failing = False

    async def check(self, platform: str, user_id: str | int) -> float | None:
        """Count one photo; ``None`` when allowed, else the seconds until the user may send again.

        Never raises: when Redis fails, the photo is allowed.
        """
        key = (NAMESPACE, platform, str(user_id))
        try:
            if await self.strategy.hit(self.item, *key):
                self._failing = False
                return None
            stats = await self.strategy.get_window_stats(self.item, *key)
            return max(1.0, stats.reset_time - time.time())
        except Exception as exc:  # connection refused, timeout, ...
            if not self._failing:
                log.warning("rate limit: Redis is not answering (%s); photos are not limited meanwhile",
                            type(exc).__name__)
            self._failing = True
            return None

    async def ping(self) -> bool:
        """True when Redis answers."""
        try:
            return bool(await self.storage.check())
        except Exception:
            return False


async def rate_check(
    identify: IdentifyService, shared: RedisRateLimiter | None, platform: str, user_id: str | int
) -> FactCard | None:
    """Count one photo of ``platform:user_id``: a friendly card when over the limit, else ``None``.

    Uses ``shared`` (Redis, every replica) when given, else the in-memory limiter of ``identify``.
    """
    if shared is None:
        return identify.rate_check(platform, user_id)
    retry = await shared.check(platform, user_id)
    if retry is None:
        return None
    log.info("rate limit: %s user over %d photos per %.0f s (shared)", platform, shared.limit,
             shared.window_s)
    return problem_card(m.rate_limited_text(retry))
