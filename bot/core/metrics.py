"""Prometheus metrics of one bot process (issue 13), in a registry of their own.

No chat id, user id, file id or token is ever a label: labels are fixed words (the answer kind, the
platform name), so ``/metrics`` cannot leak who used the bot. Served by :mod:`bot.health` on
``HEALTH_PORT``. Names follow https://prometheus.io/docs/practices/naming/.

Metrics:
    reptile_photos_identified_total: photos the model answered (a card or "not a reptile").
    reptile_answers_total{kind}: photo answers by kind: ``card``, ``not_reptile``, ``rejected``
        (bad input), ``busy`` (queue full), ``error``.
    reptile_inference_seconds: decode + inference time of one photo (histogram, seconds).
    reptile_inference_queue_depth: photos waiting or running in the worker pool.
    reptile_quiz_answers_total{result}: quiz answers stored (``right``, ``wrong``) or refused (``refused``).
    reptile_platform_errors_total{platform}: a platform that failed or stopped and is being restarted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from inference.errors import Busy, ImageRejected
from inference.types import Identification

if TYPE_CHECKING:
    from bot.core.identify import PhotoIdentifier

REGISTRY = CollectorRegistry(auto_describe=True)

PHOTOS_IDENTIFIED = Counter("reptile_photos_identified", "Photos the model answered.", registry=REGISTRY)
ANSWERS = Counter("reptile_answers", "Photo answers by kind.", ["kind"], registry=REGISTRY)
INFERENCE_SECONDS = Histogram(
    "reptile_inference_seconds", "Decode + inference time of one photo, seconds.", registry=REGISTRY,
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
QUEUE_DEPTH = Gauge("reptile_inference_queue_depth", "Photos waiting or running in the worker pool.",
                    registry=REGISTRY)
QUIZ_ANSWERS = Counter("reptile_quiz_answers", "Quiz answers by result.", ["result"], registry=REGISTRY)
PLATFORM_ERRORS = Counter("reptile_platform_errors", "Platform failures (each is restarted).", ["platform"],
                          registry=REGISTRY)

ANSWER_KINDS = ("card", "not_reptile", "rejected", "busy", "error")
for _kind in ANSWER_KINDS:
    ANSWERS.labels(kind=_kind)
for _result in ("right", "wrong", "refused"):
    QUIZ_ANSWERS.labels(result=_result)


def exposition() -> bytes:
    """The registry in the Prometheus text format (``text/plain; version=0.0.4``)."""
    return generate_latest(REGISTRY)


def watch_queue(pending: Callable[[], int]) -> None:
    """Report ``pending()`` (photos admitted to the worker pool) as the queue depth at each scrape."""
    QUEUE_DEPTH.set_function(lambda: float(pending()))


def count_quiz_answer(accepted: bool, correct: bool) -> None:
    """Count one quiz answer: right, wrong, or refused (duplicate, closed, unknown)."""
    QUIZ_ANSWERS.labels(result="refused" if not accepted else "right" if correct else "wrong").inc()


class MeteredIdentifier:
    """Wraps a photo identifier (:class:`inference.runner.InferenceRunner`) to time and count it.

    Same contract as the wrapped ``identify``: returns an :class:`Identification`, raises
    :class:`ImageRejected` and :class:`Busy` (and anything else) unchanged.
    """

    def __init__(self, inner: PhotoIdentifier) -> None:
        self.inner = inner

    async def identify(self, data: bytes) -> Identification:
        """Identify ``data`` (image bytes) with the wrapped identifier, recording the outcome."""
        started = time.perf_counter()
        try:
            ident = await self.inner.identify(data)
        except ImageRejected:
            ANSWERS.labels(kind="rejected").inc()
            raise
        except Busy:
            ANSWERS.labels(kind="busy").inc()
            raise
        except Exception:
            ANSWERS.labels(kind="error").inc()
            raise
        INFERENCE_SECONDS.observe(time.perf_counter() - started)
        PHOTOS_IDENTIFIED.inc()
        ANSWERS.labels(kind="card" if ident.is_reptile and ident.top else "not_reptile").inc()
        return ident
