"""``python -m tests.tools.loadbench``: the throughput of one replica under a sustained offered load.

The real bot (``serve_telegram``, the ONNX model, ``species.sqlite``, a throw-away state database) polls
the fake Bot API on 127.0.0.1 (:mod:`tests.fakes.fake_telegram`), which receives photos at a steady
rate (default 10, 50 and 100 photos a second, each for 30 s, each photo from its own chat so the
per-user limit does not apply) and records every reply. Prints, per rate: photos sent, answered with a
card, answered "busy", not answered yet 30 s after the last photo was sent (still waiting at the fake
Telegram: the bot fetches at most 64 updates ahead, so an overload queues there rather than in memory),
the achieved answers per second, and the p50 / p95 time from a photo's arrival at the fake Telegram to
its reply. Nothing is asserted: the figures depend on the machine and
on what else runs on it. Traffic goes to 127.0.0.1 only and every loop is bounded by ``--seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.core import messages as m
from tests.tools import inputs
from tests.tools.selftest import is_busy_or_card, problem_html, running_bot

DEFAULT_RATES = (10, 50, 100)


@dataclass(frozen=True, slots=True)
class LoadResult:
    """One offered rate's figures (times in milliseconds)."""

    rate: float
    seconds: float
    sent: int
    cards: int
    busy: int
    lost: int
    achieved_per_s: float
    p50_ms: float
    p95_ms: float


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def offer(rate: float, seconds: float, workdir: Path, drain_s: float = 30.0) -> LoadResult:
    """Send ``rate`` photos a second for ``seconds`` to a fresh bot and measure its replies."""
    photos = [inputs.jpeg((640 + 16 * i, 480)) for i in range(8)]
    async with running_bot(workdir, user_rate_limit=1_000_000) as bot:
        sizes = [bot.fake.photo_sizes(p) for p in photos]
        msgs = []
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = int(rate * seconds)
        for i in range(n):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            msgs.append(bot.push(chat=bot.fake.private_chat(500_000 + i), photo=sizes[i % len(sizes)]))
        await bot.wait_replies(msgs, timeout=drain_s)
        latencies, cards, busy, lost = [], 0, 0, 0
        first_at, last_at = None, None
        for msg in msgs:
            got = bot.replies(msg)
            if not got:
                lost += 1
                continue
            text = str(got[0].params.get("text", ""))
            busy += text == problem_html(m.BUSY_TEXT)
            cards += is_busy_or_card(text) and text != problem_html(m.BUSY_TEXT)
            lat = bot.latency_ms(msg)
            if lat is not None:
                latencies.append(lat)
            first_at = got[0].at if first_at is None else min(first_at, got[0].at)
            last_at = got[0].at if last_at is None else max(last_at, got[0].at)
        span = (last_at - first_at) if first_at is not None and last_at is not None else 0.0
        answered = len(msgs) - lost
        return LoadResult(rate, seconds, len(msgs), cards, busy, lost,
                          answered / span if span > 0 else float(answered),
                          _percentile(latencies, 50), _percentile(latencies, 95))


def table(results: Sequence[LoadResult]) -> str:
    """The results as a Markdown table."""
    lines = ["| offered photos/s | seconds | sent | cards | busy | no reply yet | answered/s | p50 ms "
             "| p95 ms |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.rate:g} | {r.seconds:g} | {r.sent} | {r.cards} | {r.busy} | {r.lost} | "
                     f"{r.achieved_per_s:.1f} | {r.p50_ms:.0f} | {r.p95_ms:.0f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tests.tools.loadbench [--rates 10,50,100] [--seconds 30]``; prints the table, exits 0."""
    p = argparse.ArgumentParser(prog="python -m tests.tools.loadbench", description=__doc__.split("\n")[0])
    p.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)),
                   help="offered photos per second, comma-separated (default 10,50,100)")
    p.add_argument("--seconds", type=float, default=30.0, help="how long each rate is offered (default 30)")
    args = p.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    if not rates or any(r <= 0 for r in rates) or not 0 < args.seconds <= 600:
        print("rates must be > 0 and seconds in (0, 600]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.CRITICAL)

    async def run() -> list[LoadResult]:
        with tempfile.TemporaryDirectory(prefix="reptile-loadbench-") as tmp:
            return [await offer(r, args.seconds, Path(tmp) / f"r{r:g}") for r in rates]

    started = time.monotonic()
    print(table(asyncio.run(run())))
    print(f"\n(one replica, INFERENCE_WORKERS=2, in {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
