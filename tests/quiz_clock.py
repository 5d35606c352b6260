"""A question timer the test drives (:class:`bot.core.quiz.session.QuestionTimer`).

:meth:`QuestionClock.time_up` ends the open period of the question that is open now (or the next one),
as if its time had run out; "everyone answered" still ends it early. Waits of zero seconds (a reveal
pause of 0) return at once. So answers come first and the reveal follows when the test says so, however
loaded the machine: no test depends on a real period being long enough.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.core.quiz import session as session_mod


class QuestionClock:
    """Install with :func:`install` (or pass as ``timer=``)."""


    PERIOD = 600  # Telegram's longest open_period: the state database's deadline never refuses answers

    def __init__(self) -> None:
        self._ticks = asyncio.Semaphore(0)
        #: The length of the clocked wait in progress (a question's period or a pause), else ``None``.
        self.waiting: float | None = None
        self._changed = asyncio.Event()

    def time_up(self) -> None:
        """End the clocked wait that is open now (or the next one)."""
        self._ticks.release()

    async def wait(self, event: asyncio.Event, seconds: float | None) -> bool:
        """See :meth:`bot.core.quiz.session.QuestionTimer.wait`."""
        if event.is_set():
            return True
        if seconds is not None and seconds <= 0:
            return False
        done = asyncio.ensure_future(event.wait())
        tick = asyncio.ensure_future(self._ticks.acquire())
        self._set_waiting(seconds)
        try:
            await asyncio.wait({done, tick}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._set_waiting(None)
            for fut in (done, tick):
                fut.cancel()
        ticked = tick.done() and not tick.cancelled()
        if event.is_set():
            if ticked:
                self._ticks.release()  # not used: keep it for the next question
            return True
        return False


    def _set_waiting(self, seconds: float | None) -> None:
        self.waiting = seconds
        self._changed.set()
        self._changed = asyncio.Event()

    async def until_waiting(self, seconds: float) -> None:
        """Return once a clocked wait of ``seconds`` is in progress."""
        while self.waiting != seconds:
            await self._changed.wait()


def install(monkeypatch: pytest.MonkeyPatch) -> QuestionClock:
    """Make every session created without a timer use a new :class:`QuestionClock`."""
    clock = QuestionClock()
    monkeypatch.setattr(session_mod, "TIMER", clock)
    return clock
