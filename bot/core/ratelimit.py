"""Per-user rate limit for photo identifications (platform-neutral, in memory)."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable


class UserRateLimiter:
    """Sliding-window limit: at most ``limit`` events per ``window_s`` seconds for each key.

    Memory is bounded: at most ``max_keys`` users are tracked; the least recently seen are forgotten
    first (a forgotten user simply starts a fresh window).

    Args:
        limit: events allowed per window (>= 1); the ``USER_RATE_LIMIT`` setting.
        window_s: window length in seconds (> 0); the ``USER_RATE_WINDOW_S`` setting.
        max_keys: most users tracked at once.
        clock: monotonic time in seconds (tests pass a fake).
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._max_keys = max_keys
        self._clock = clock
        self._events: OrderedDict[Hashable, deque[float]] = OrderedDict()

    def allow(self, key: Hashable) -> bool:
        """Record an event for ``key`` and return True, or return False (recording nothing) when
        ``key`` already had ``limit`` events in the last ``window_s`` seconds."""
        now = self._clock()
        events = self._events.pop(key, None) or deque()
        while events and now - events[0] >= self.window_s:
            events.popleft()
        allowed = len(events) < self.limit
        if allowed:
            events.append(now)
        self._events[key] = events
        while len(self._events) > self._max_keys:
            self._events.popitem(last=False)
        return allowed

    def retry_after(self, key: Hashable) -> float:
        """Seconds until ``key`` may act again (0.0 when it may act now)."""
        events = self._events.get(key)
        if not events or len(events) < self.limit:
            return 0.0
        return max(0.0, self.window_s - (self._clock() - events[0]))
