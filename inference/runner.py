"""Run identifications off the event loop in a bounded thread pool."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from inference.errors import Busy
from inference.preprocess import ImageLimits
from inference.types import Identification

if TYPE_CHECKING:
    from inference.classifier import ReptileClassifier
    from inference.pack import PackClassifier
    from inference.pack_heads import StackedClassifier

#: Niceness added to the worker threads (Linux): when the CPU is contended, the event loop (which must
#: keep answering chats and never lag) runs first and inference gets the rest. Idle CPU is still used.
WORKER_NICENESS = 10


def _lower_thread_priority() -> None:
    """ThreadPoolExecutor initializer: raise this worker thread's niceness (best effort)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICENESS)


class InferenceRunner:
    """Bounded async front-end to a (thread-safe) classifier.

    At most ``max_workers`` identifications run at once, and at most ``max_pending`` are admitted
    (running + waiting for a worker). A call beyond that raises :class:`~inference.errors.Busy`
    immediately instead of growing an unbounded queue of photos in memory.

    Args:
        classifier: the object doing the work: its thread-safe ``identify(data, limits=None)`` is called
            in a worker thread (the core's side of this role is :class:`bot.core.identify.PhotoIdentifier`,
            which this runner implements).
        max_workers: worker threads (>= 1). On the 2-core target use 2 with
            ``threads=1`` in the classifier.
        max_pending: admitted jobs limit (>= max_workers).
        limits: decoding limits passed to ``classifier.identify``; ``None`` = the classifier's own.

    Raises:
        ValueError: invalid sizes.
    """

    def __init__(
        self,
        classifier: ReptileClassifier | PackClassifier | StackedClassifier,
        *,
        max_workers: int = 2,
        max_pending: int = 8,
        limits: ImageLimits | None = None,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        if max_pending < max_workers:
            raise ValueError("max_pending must be >= max_workers")
        self._classifier = classifier
        self._limits = limits
        self._max_pending = max_pending
        self._pending = 0
        self._lock = threading.Lock()
        self._closed = False
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="inference",
                                        initializer=_lower_thread_priority)

    @property
    def pending(self) -> int:
        """Jobs currently admitted (queued or running)."""
        return self._pending

    @property
    def max_pending(self) -> int:
        """The admission limit."""
        return self._max_pending

    async def identify(self, data: bytes) -> Identification:
        """Identify one photo in a worker thread.

        Raises:
            Busy: ``max_pending`` jobs are already admitted.
            ImageRejected: from the classifier (bad input).
            RuntimeError: the runner is closed.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("InferenceRunner is closed")
            if self._pending >= self._max_pending:
                raise Busy(self._pending, self._max_pending)
            self._pending += 1
        try:
            # Equivalent to ``loop.run_in_executor`` but keeps the concurrent future: its done
            # callback fires when the worker thread has really finished (or the job was cancelled
            # before starting), so a cancelled caller does not free the slot of a still-running job.
            job = self._pool.submit(self._call, data)
            job.add_done_callback(lambda _f: self._release())
        except BaseException:
            self._release()
            raise
        return await asyncio.wrap_future(job)

    def _call(self, data: bytes) -> Identification:
        if self._limits is None:
            return self._classifier.identify(data)
        return self._classifier.identify(data, self._limits)

    def _release(self) -> None:
        with self._lock:
            self._pending -= 1

    def close(self, *, wait: bool = True) -> None:
        """Refuse new work and shut the pool down (``wait``: let running jobs finish first)."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
