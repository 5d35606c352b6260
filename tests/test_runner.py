"""The bounded thread-pool runner, with a fake classifier (no model needed)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from inference.errors import Busy, ImageRejected, RejectReason
from inference.runner import InferenceRunner
from inference.types import Identification

#: Upper bound of every wait here, seconds (a hang guard: the waits end as soon as the event happens).
WAIT_S = 30.0


class FakeClassifier:
    """Returns a result derived from the bytes; blocks until ``gate`` is set; tracks concurrency."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.max_running = 0
        self.started = threading.Semaphore(0)
        self.threads: set[str] = set()

    def identify(self, data: bytes, limits=None) -> Identification:
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.threads.add(threading.current_thread().name)
        self.started.release()
        try:
            if not self.gate.wait(timeout=WAIT_S):
                raise RuntimeError("test gate never opened")
            if data == b"bad":
                raise ImageRejected(RejectReason.CORRUPT, "fake")
            return Identification(
                is_reptile=data.startswith(b"snake"),
                reptile_probability=len(data) / 100,
                reptile_type="snake" if data.startswith(b"snake") else None,
                type_confidence=0.0,
                model="fake",
            )
        finally:
            with self.lock:
                self.running -= 1


async def wait_started(fake: FakeClassifier, n: int) -> None:
    for _ in range(n):
        assert await asyncio.to_thread(fake.started.acquire, True, WAIT_S)


async def test_results_come_back_to_the_right_caller() -> None:
    fake = FakeClassifier()
    fake.gate.set()
    runner = InferenceRunner(fake, max_workers=2, max_pending=8)
    try:
        inputs = [b"snake" + b"x" * i for i in range(5)] + [b"mug" * 3]
        results = await asyncio.gather(*(runner.identify(d) for d in inputs))
        assert [r.reptile_probability for r in results] == [len(d) / 100 for d in inputs]
        assert [r.is_reptile for r in results] == [True] * 5 + [False]
        assert all(t.startswith("inference") for t in fake.threads)
    finally:
        runner.close()


async def test_at_most_max_workers_run_at_once_and_busy_beyond_max_pending() -> None:
    fake = FakeClassifier()
    runner = InferenceRunner(fake, max_workers=2, max_pending=3)
    try:
        tasks = [asyncio.create_task(runner.identify(b"snake%d" % i)) for i in range(3)]
        await wait_started(fake, 2)
        await asyncio.sleep(0)
        assert runner.pending == 3
        with pytest.raises(Busy):
            await runner.identify(b"snake-extra")
        fake.gate.set()
        results = await asyncio.gather(*tasks)
        assert len(results) == 3 and fake.max_running == 2
        assert runner.pending == 0
        # Capacity is released: new work is accepted again.
        assert (await runner.identify(b"snake again")).is_reptile
    finally:
        runner.close()


async def test_rejections_propagate_and_free_their_slot() -> None:
    fake = FakeClassifier()
    fake.gate.set()
    runner = InferenceRunner(fake, max_workers=1, max_pending=1)
    try:
        for _ in range(3):
            with pytest.raises(ImageRejected):
                await runner.identify(b"bad")
        assert runner.pending == 0
    finally:
        runner.close()


async def test_cancelled_caller_keeps_the_slot_until_the_thread_finishes() -> None:
    fake = FakeClassifier()
    runner = InferenceRunner(fake, max_workers=1, max_pending=1)
    try:
        task = asyncio.create_task(runner.identify(b"snake"))
        await wait_started(fake, 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(Busy):  # the worker thread is still busy with the photo
            await runner.identify(b"snake2")
        fake.gate.set()
        # The slot is freed by the worker thread when the photo is done; the thread runs at a lower
        # priority (WORKER_NICENESS), so on a loaded machine that can take well over the 1 s this loop
        # used to allow. Wait for it (bounded by a hang guard), then check that work is accepted again.
        deadline = time.monotonic() + WAIT_S
        while runner.pending != 0:
            assert time.monotonic() < deadline, f"the slot was not freed within {WAIT_S} s"
            await asyncio.sleep(0.01)
        assert (await runner.identify(b"snake3")).is_reptile
    finally:
        runner.close()


async def test_closed_runner_refuses_work() -> None:
    fake = FakeClassifier()
    fake.gate.set()
    runner = InferenceRunner(fake, max_workers=1, max_pending=2)
    runner.close()
    with pytest.raises(RuntimeError):
        await runner.identify(b"snake")


def test_invalid_sizes() -> None:
    with pytest.raises(ValueError):
        InferenceRunner(FakeClassifier(), max_workers=0)
    with pytest.raises(ValueError):
        InferenceRunner(FakeClassifier(), max_workers=4, max_pending=2)
