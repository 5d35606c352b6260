"""Per-user rate limit and admin /stats (core, platform-neutral)."""

from __future__ import annotations

import pytest

from bot.core.admin import is_admin, parse_admin_ids, stats_text
from bot.core.ratelimit import UserRateLimiter
from bot.state.store import StateStore
from tests.manual_clock import ManualClock


def test_rate_limit_per_user_with_sliding_window():
    clock = ManualClock(1000.0)
    rl = UserRateLimiter(limit=3, window_s=60, clock=clock)
    assert [rl.allow("ana") for _ in range(4)] == [True, True, True, False]
    assert rl.allow("ben"), "another user is not affected"
    assert 0 < rl.retry_after("ana") <= 60
    clock.now += 30
    assert not rl.allow("ana")
    clock.now += 31
    assert rl.allow("ana"), "the window slid past the first photos"


def test_rate_limiter_memory_is_bounded():
    rl = UserRateLimiter(limit=1, window_s=60, max_keys=100)
    for i in range(1000):
        rl.allow(i)
    assert len(rl._events) == 100


def test_admin_ids_parsing():
    ids = parse_admin_ids(" telegram:123, ,Discord:456 ")
    assert is_admin(ids, "telegram", 123) and is_admin(ids, "discord", "456")
    assert not is_admin(ids, "discord", 123) and not is_admin(frozenset(), "telegram", 123)


async def test_stats_count_without_exposing_ids(tmp_path):
    store = await StateStore.open(tmp_path / "state.sqlite")
    try:
        for chat in (111, 111, 222):
            await store.log_identification("telegram", chat, "Naja naja", 0.9)
        text = await stats_text(store, pending_photos=2, queue_limit=32, started_at=0)
    finally:
        await store.close()
    assert "Identifications: 3 (3 in the last 24 h) in 2 chats" in text
    assert "Naja naja (3)" in text and "2 of 32" in text
    assert "111" not in text and "222" not in text


@pytest.mark.parametrize("bad", [(0, 60), (3, 0)])
def test_rate_limiter_refuses_nonsense_settings(bad):
    with pytest.raises(ValueError):
        UserRateLimiter(*bad)
