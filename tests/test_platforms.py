"""One process, several platforms: a failing platform is restarted with backoff, the others keep going."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot import platforms
from bot.platforms import supervise


async def test_failing_platform_is_retried_while_the_other_keeps_serving(monkeypatch, caplog):
    monkeypatch.setattr(platforms, "BACKOFF_START_S", 0.01)
    caplog.set_level(logging.INFO, logger="bot.platforms")
    attempts = 0
    healthy_ticks = 0
    recovered = asyncio.Event()

    async def flaky(_services) -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("gateway unreachable")
        recovered.set()
        await asyncio.Event().wait()  # serves until cancelled

    ticked = asyncio.Event()

    async def healthy(_services) -> None:
        nonlocal healthy_ticks
        while True:
            healthy_ticks += 1
            ticked.set()
            await asyncio.sleep(0.001)

    tasks = [asyncio.create_task(supervise("discord", flaky, None)),
             asyncio.create_task(supervise("telegram", healthy, None))]
    await asyncio.wait_for(recovered.wait(), timeout=30)  # a hang guard; the restarts take ~30 ms
    ticks_at_recovery = healthy_ticks
    ticked.clear()
    await asyncio.wait_for(ticked.wait(), timeout=30)  # the healthy one is still serving (not a sleep)
    for t in tasks:
        t.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert attempts == 3
    assert healthy_ticks > ticks_at_recovery > 0, "the healthy platform kept serving throughout"
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 2 and "ConnectionError: gateway unreachable" in failures[0]
    assert "restarting in" in failures[0]


async def test_backoff_doubles_up_to_the_cap(monkeypatch):
    monkeypatch.setattr(platforms, "BACKOFF_START_S", 1.0)
    monkeypatch.setattr(platforms, "BACKOFF_MAX_S", 4.0)
    delays: list[float] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) >= 5:
            raise asyncio.CancelledError

    async def always_fails(_services) -> None:
        raise RuntimeError("down")

    monkeypatch.setattr(platforms.asyncio, "sleep", fake_sleep)
    with pytest.raises(asyncio.CancelledError):
        await supervise("telegram", always_fails, None)
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]


async def test_a_platform_that_finishes_its_work_on_cancel_is_not_restarted(caplog):
    caplog.set_level(logging.INFO, logger="bot.platforms")
    started = asyncio.Event()
    finished: list[str] = []
    starts = 0

    async def draining(_services) -> None:
        nonlocal starts
        starts += 1
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(0.01)  # answers what is in flight...
            finished.append("drained")
            return  # ...and returns instead of re-raising

    task = asyncio.create_task(supervise("telegram", draining, None), name="telegram")
    await started.wait()
    await platforms.stop_platforms([task], timeout=30)  # a hang guard: the drain takes 10 ms
    assert task.cancelled()
    assert finished == ["drained"] and starts == 1
    assert "restarting" not in caplog.text


async def test_stop_platforms_gives_up_after_the_timeout(caplog):
    caplog.set_level(logging.WARNING, logger="bot.platforms")
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # refuses to stop

    task = asyncio.create_task(stubborn(), name="discord")
    await asyncio.sleep(0)
    await asyncio.wait_for(platforms.stop_platforms([task], timeout=0.1), timeout=30)
    assert "discord: did not stop within" in caplog.text
    release.set()
    await task
