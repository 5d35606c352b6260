"""``make selftest``: the bot under bad input, network faults and a flood, with a report.

Run from a checkout: ``make selftest`` or ``.venv/bin/python -m tests.tools.selftest`` (it is not part of
the installed package).

The Telegram scenarios run the real :func:`~bot.adapters.telegram.app.serve_telegram` (the real PTB
Application) against the fake Bot API of :mod:`tests.fakes.fake_telegram`; the Discord ones run the real
:func:`~bot.adapters.discord.client.serve_discord` (the real discord.py client) against the fake Discord
API and gateway of :mod:`tests.fakes.fake_discord`; both on 127.0.0.1, with the real ONNX model and
species database and a temporary state database. Each measures:

* cases tried, answered (the expected friendly reply arrived), lost (no reply at all) and crashed
  (the bot's serve task died, or something logged a traceback);
* p50/p95 reply latency: from sending the update (or interaction) to the fake server receiving the reply;
* the largest event-loop lag (a 10 ms ticker's overshoot) and the peak resident memory (VmHWM, reset per
  scenario where the kernel allows it).

The run fails (exit status 1) when a reply was lost or wrong, something crashed, or the event loop lagged
100 ms or more. Scenarios are plain async functions in :data:`SCENARIOS`; other platforms can append
theirs (each returns a :class:`ScenarioResult`). Nothing here needs pytest; the hardening tests reuse
the harness and the case lists.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import html
import logging
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord.gateway
import discord.http
import yarl

from bot.adapters.discord.client import serve_discord
from bot.adapters.discord.render import render_embed
from bot.adapters.telegram.app import TelegramTuning, serve_telegram
from bot.adapters.telegram.render import render_html
from bot.core import messages as m
from bot.core.cards import problem_card, rejected_card
from bot.logging_setup import redact_handler
from bot.services import Services, open_services
from bot.settings import Settings
from inference.errors import RejectReason
from tests.fakes.fake_discord import FakeDiscord, Payloads
from tests.fakes.fake_telegram import FAKE_TOKEN, FakeTelegram, Recorded
from tests.tools import inputs

log = logging.getLogger(__name__)

#: The bad-input criterion: every case answered within this many seconds.
ANSWER_WITHIN_S = 2.0
#: The flood criterion: event-loop lag must stay below this (milliseconds).
MAX_LAG_MS = 100.0
#: Telegram's getFile refuses files above 20 MB ("file is too big").
TELEGRAM_GETFILE_LIMIT = 20 * 1024 * 1024

#: Fast network settings for the fake server: short timeouts so timeout faults cost ~1 s. The fake has
#: no flood limit, so the overall rate limit is raised and the scenarios measure the bot, not Telegram's
#: 30 messages/s (the production default, which would make a 500-photo flood last ~35 s by itself).
FAST_TUNING = TelegramTuning(request_timeout_s=1.0, overall_max_rate=1000.0, group_max_rate=1000.0,
                             drain_timeout_s=5.0)

_PROBLEM_PREFIX = render_html(problem_card("x")).rsplit("x", 1)[0]


# ---------------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------------


def rss_mb() -> float:
    """Current resident set size of this process, MB."""
    return _status_kb("VmRSS") / 1024


def _status_kb(key: str) -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS, where the kernel allows it."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def peak_rss_mb() -> float:
    """Peak resident set size since the last :func:`reset_peak_rss` (or process start), MB."""
    return _status_kb("VmHWM") / 1024


class LagMeter:
    """Measures event-loop lag: a task sleeping ``interval`` s in a loop records how late it wakes.

    Use as ``async with LagMeter() as lag: ...`` then read ``lag.max_ms``.
    """

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.max_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval)
            self.max_ms = max(self.max_ms, (loop.time() - start - self.interval) * 1000)

    async def __aenter__(self) -> LagMeter:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class TracebackCounter(logging.Handler):
    """Counts log records carrying a traceback, and keeps the last few messages."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.tracebacks = 0
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.exc_text:
            self.tracebacks += 1
            self.lines.append(f"{record.name}: {record.getMessage()[:200]}")


# ---------------------------------------------------------------------------------------------------
# The bot under test
# ---------------------------------------------------------------------------------------------------


@dataclass
class TelegramHarness:
    """A running bot (``serve_telegram``) and its fake Bot API server."""

    fake: FakeTelegram
    services: Services
    task: asyncio.Task[None]
    pushed_at: dict[tuple[int, int], float] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        """True while ``serve_telegram`` is running."""
        return not self.task.done()

    def push(self, **fields: Any) -> dict[str, Any]:
        """Queue a message update and remember when (for latencies); returns the message."""
        msg = self.fake.push_message(**fields)
        self.pushed_at[key_of(msg)] = time.monotonic()
        return msg

    def replies(self, msg: dict[str, Any]) -> list[Recorded]:
        """Delivered ``sendMessage`` calls replying to ``msg``, oldest first."""
        key = key_of(msg)
        return [r for r in self.fake.requests if delivered(r) and reply_key(r.params) == key]

    def latency_ms(self, msg: dict[str, Any]) -> float | None:
        """Milliseconds from pushing ``msg`` to its first reply, or ``None``."""
        got = self.replies(msg)
        start = self.pushed_at.get(key_of(msg))
        return (got[0].at - start) * 1000 if got and start is not None else None

    async def wait_replies(self, msgs: Sequence[dict[str, Any]], timeout: float) -> None:
        """Wait until every message in ``msgs`` has a reply (or ``timeout`` s, or the bot died)."""
        deadline = time.monotonic() + timeout
        pending = {key_of(msg) for msg in msgs}
        seen = 0
        while pending and time.monotonic() < deadline and self.alive:
            for rec in self.fake.requests[seen:]:
                if delivered(rec):
                    pending.discard(reply_key(rec.params))
            # requests are appended before they are answered: rescan the unanswered tail next time
            seen = next((i for i in range(seen, len(self.fake.requests))
                         if not self.fake.requests[i].answered), len(self.fake.requests))
            await asyncio.sleep(0.02)


def delivered(rec: Recorded) -> bool:
    """True for a ``sendMessage`` the fake Telegram accepted: answered normally, late (a timeout on the
    bot's side) or with an unreadable body; not one answered with an error or a dropped connection."""
    return rec.method == "sendMessage" and rec.answered and rec.fault not in ("error", "reset")


def key_of(msg: dict[str, Any]) -> tuple[int, int]:
    """(chat id, message id) of a Bot API message dict."""
    return int(msg["chat"]["id"]), int(msg["message_id"])


def reply_key(params: dict[str, Any]) -> tuple[int, int]:
    """(chat id, replied-to message id) of a sendMessage call."""
    reply = params.get("reply_parameters") or {}
    return int(params.get("chat_id", 0)), int(reply.get("message_id", 0) or 0)


def selftest_settings(fake: FakeTelegram, state_db: Path, **overrides: Any) -> Settings:
    """Settings for a bot talking to ``fake``: Telegram only, the real model and species database, a
    throw-away state database. ``overrides`` are Settings fields."""
    values: dict[str, Any] = {
        "telegram_bot_token": FAKE_TOKEN,
        "telegram_base_url": fake.base_url,
        "telegram_base_file_url": fake.base_file_url,
        "telegram_webhook_url": None,
        "discord_bot_token": None,
        "state_db_path": state_db,
        "admin_ids": "",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_bot(
    workdir: Path, tuning: TelegramTuning = FAST_TUNING, fake: FakeTelegram | None = None,
    **overrides: Any,
) -> AsyncIterator[TelegramHarness]:
    """Start a fake Bot API (unless given) and ``serve_telegram`` polling it; stop both afterwards.

    Raises:
        RuntimeError: when the bot did not start polling within 20 s (with its start-up error).
    """
    own_fake = fake is None
    fake = fake or await FakeTelegram().start()
    services: Services | None = None
    task: asyncio.Task[None] | None = None
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        state_db = Path(tempfile.mkstemp(prefix="state-", suffix=".sqlite", dir=workdir)[1])
        state_db.unlink()
        services = await open_services(selftest_settings(fake, state_db, **overrides))
        task = asyncio.create_task(serve_telegram(services, tuning))
        poll = asyncio.ensure_future(fake.wait_for("getUpdates", timeout=20.0))
        done, _ = await asyncio.wait({task, poll}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            poll.cancel()
            raise RuntimeError(f"serve_telegram stopped at start-up: {task.exception()!r}")
        poll.result()
        yield TelegramHarness(fake, services, task)
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 30.0)
        if services is not None:
            await services.close()
        if own_fake:
            await fake.stop()


# ---------------------------------------------------------------------------------------------------
# Expected replies
# ---------------------------------------------------------------------------------------------------


def problem_html(text: str) -> str:
    """The Telegram HTML of a problem card with ``text``."""
    return render_html(problem_card(text))


def reject_html(reason: RejectReason, max_bytes: int | None = None) -> str:
    """The Telegram HTML of the card for a rejected image."""
    return render_html(rejected_card(reason, max_bytes))


def is_identification_card(text: str) -> bool:
    """True for a fact card from the model (reptile or not), i.e. HTML that is not a problem card."""
    return "<b>" in text and not text.startswith(_PROBLEM_PREFIX)


def is_busy_or_card(text: str) -> bool:
    """A flood answer: a card, or the polite busy message."""
    return text == problem_html(m.BUSY_TEXT) or is_identification_card(text)


def is_rate_limited(text: str) -> bool:
    """The per-user rate-limit answer (any wait time)."""
    return text.startswith(_PROBLEM_PREFIX) and html.escape("Wow, that's a lot of photos!") in text


Check = Callable[[str], bool]


@dataclass(frozen=True)
class BadInput:
    """One row of the bad-input matrix: a private-chat message and the replies that are right.

    Attributes:
        name: short id for reports and test ids.
        fields: builds the Message fields (files are registered with the fake server).
        check: True for a right reply text.
        expected: the right reply, in words.
        group: send it to a group chat (needs a caption command) instead of a private chat.
    """

    name: str
    fields: Callable[[FakeTelegram], dict[str, Any]]
    check: Check
    expected: str
    group: bool = False


def _one_of(*texts: str) -> Check:
    allowed = frozenset(texts)
    return lambda text: text in allowed


def _doc(data: Callable[[], bytes] | bytes, name: str, mime: str | None,
         size: int | None = None, stored_size: int | None = None) -> Callable[[FakeTelegram], dict]:
    """A document message; ``size`` is the declared ``file_size`` (``-1`` = leave it out) and
    ``stored_size`` what getFile reports."""

    def build(fake: FakeTelegram) -> dict[str, Any]:
        payload = data() if callable(data) else data
        doc = fake.document(payload, name, mime, file_size=None if size == -1 else size)
        if size == -1:
            doc.pop("file_size")
        if stored_size is not None:
            fake.files[doc["file_id"]].declared_size = stored_size
        return {"document": doc}

    return build


def _photo(data: Callable[[], bytes], caption: str | None = None) -> Callable[[FakeTelegram], dict]:
    def build(fake: FakeTelegram) -> dict[str, Any]:
        fields: dict[str, Any] = {"photo": fake.photo_sizes(data())}
        if caption is not None:
            fields["caption"] = caption
        return fields

    return build


def _fixed(fields: dict[str, Any]) -> Callable[[FakeTelegram], dict]:
    return lambda fake: dict(fields)


def _species_escaped(raw: str) -> Check:
    def check(text: str) -> bool:
        return "<script" not in text and "<img" not in text and html.escape(raw[:20]) in text

    return check


_MARKUP_QUERY = "<b>bold</b> <script>alert(1)</script> <img src=x onerror=alert(1)> & 🐍 Кобра 蛇 \u202e"
_UNICODE_QUERY = "ж" * 300 + " 🦎🦎🦎 \u0000 \u200b"


def bad_inputs(max_bytes: int) -> list[BadInput]:
    """The bad-input matrix (issue 6). ``max_bytes`` is the bot's ``MAX_IMAGE_BYTES``."""
    card: Check = is_identification_card
    corrupt = _one_of(reject_html(RejectReason.CORRUPT), reject_html(RejectReason.NOT_AN_IMAGE))
    not_image = _one_of(reject_html(RejectReason.NOT_AN_IMAGE))
    too_large = _one_of(problem_html(m.too_large_text(max_bytes)))
    big = TELEGRAM_GETFILE_LIMIT + 5 * 1024 * 1024
    sticker = {"file_id": "STK1", "file_unique_id": "uSTK1", "width": 512, "height": 512,
               "is_animated": False, "is_video": False, "type": "regular"}
    return [
        BadInput("empty-jpeg", _doc(b"", "empty.jpg", "image/jpeg"),
                 _one_of(reject_html(RejectReason.EMPTY)), "empty-file message"),
        BadInput("truncated-jpeg", _doc(lambda: inputs.truncated(inputs.jpeg()), "cut.jpg", "image/jpeg"),
                 corrupt, "broken-picture message"),
        BadInput("corrupt-jpeg", _doc(lambda: inputs.corrupted(inputs.jpeg()), "bad.jpg", "image/jpeg"),
                 corrupt, "broken-picture message"),
        BadInput("truncated-png", _doc(lambda: inputs.truncated(inputs.png()), "cut.png", "image/png"),
                 corrupt, "broken-picture message"),
        BadInput("corrupt-png", _doc(lambda: inputs.corrupted(inputs.png()), "bad.png", "image/png"),
                 corrupt, "broken-picture message"),
        BadInput("text-named-jpg", _doc(inputs.TEXT, "photo.jpg", "image/jpeg"), not_image,
                 "not-a-picture message"),
        BadInput("html-page", _doc(inputs.HTML, "page.html", "text/html"), not_image,
                 "not-a-picture message (before download)"),
        BadInput("html-as-jpg", _doc(inputs.HTML, "page.jpg", None), not_image, "not-a-picture message"),
        BadInput("png-bomb-30000px", _doc(inputs.png_bomb, "bomb.png", "image/png"),
                 _one_of(reject_html(RejectReason.TOO_MANY_PIXELS)), "picture-too-enormous message"),
        BadInput("1x1-png", _doc(inputs.one_pixel, "dot.png", "image/png"),
                 _one_of(reject_html(RejectReason.TOO_SMALL)), "picture-too-tiny message"),
        BadInput("16bit-png", _doc(inputs.png_16bit, "deep.png", "image/png"), card, "a fact card"),
        BadInput("cmyk-jpeg", _doc(inputs.cmyk_jpeg, "print.jpg", "image/jpeg"), card, "a fact card"),
        BadInput("exif-rotated-photo", _photo(inputs.exif_rotated_jpeg), card, "a fact card"),
        BadInput("palette-png-alpha", _doc(inputs.palette_png_transparent, "pal.png", "image/png"), card,
                 "a fact card"),
        BadInput("animated-gif-file", _doc(inputs.animated_gif, "anim.gif", "image/gif"), card,
                 "a fact card (first frame)"),
        BadInput("animated-gif-animation", _fixed({
            "animation": {"file_id": "ANI1", "file_unique_id": "uANI1", "width": 320, "height": 240,
                          "duration": 1, "mime_type": "video/mp4"},
            "document": {"file_id": "ANI1", "file_unique_id": "uANI1", "file_name": "anim.gif.mp4",
                         "mime_type": "video/mp4"}}),
            _one_of(m.MOVING_MEDIA_TEXT), "moving-media message"),
        BadInput("animated-webp", _doc(inputs.animated_webp, "anim.webp", "image/webp"), card,
                 "a fact card (first frame)"),
        BadInput("heic", _doc(inputs.heic, "IMG_0001.HEIC", "image/heic"), card, "a fact card"),
        BadInput("svg", _doc(inputs.SVG, "drawing.svg", "image/svg+xml"),
                 _one_of(reject_html(RejectReason.UNSUPPORTED)), "can't-read-that-kind message"),
        BadInput("svg-as-octet-stream", _doc(inputs.SVG, "drawing.svg", "application/octet-stream"),
                 _one_of(reject_html(RejectReason.UNSUPPORTED)), "can't-read-that-kind message"),
        BadInput("pdf", _doc(inputs.PDF, "homework.pdf", "application/pdf"), not_image,
                 "not-a-picture message (before download)"),
        BadInput("video", _fixed({"video": {"file_id": "VID1", "file_unique_id": "uVID1", "width": 640,
                                            "height": 480, "duration": 5}}),
                 _one_of(m.MOVING_MEDIA_TEXT), "moving-media message"),
        BadInput("video-as-file", _doc(inputs.MP4, "clip.mp4", "video/mp4"), not_image,
                 "not-a-picture message (before download)"),
        BadInput("sticker", _fixed({"sticker": sticker}), _one_of(m.NO_PHOTO_TEXT), "please-send-a-photo"),
        BadInput("audio", _fixed({"audio": {"file_id": "AUD1", "file_unique_id": "uAUD1", "duration": 3}}),
                 _one_of(m.NO_PHOTO_TEXT), "please-send-a-photo"),
        BadInput("voice", _fixed({"voice": {"file_id": "VOI1", "file_unique_id": "uVOI1", "duration": 2}}),
                 _one_of(m.NO_PHOTO_TEXT), "please-send-a-photo"),
        BadInput("document-25MB-declared", _doc(inputs.png, "huge.png", "image/png", size=big), too_large,
                 "too-big message (before getFile)"),
        BadInput("document-25MB-getfile-too-big",
                 _doc(inputs.png, "huge.png", "image/png", size=-1, stored_size=big), too_large,
                 "too-big message (getFile: file is too big)"),
        BadInput("caption-4096-chars", _photo(inputs.jpeg, caption="🦎" + "a" * 4094), card, "a fact card"),
        BadInput("group-caption-4096-chars", _photo(inputs.jpeg, caption="/reptile " + "b" * 4087), card,
                 "a fact card", group=True),
        BadInput("species-markup", _fixed({"text": "/species " + _MARKUP_QUERY}),
                 _species_escaped(_MARKUP_QUERY), "escaped not-found message"),
        BadInput("species-unicode", _fixed({"text": "/species " + _UNICODE_QUERY}),
                 _species_escaped(_UNICODE_QUERY), "escaped not-found message"),
    ]


# ---------------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------------


@dataclass
class ScenarioResult:
    """One row of the report."""

    name: str
    tried: int = 0
    answered: int = 0
    lost: int = 0
    crashed: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    max_lag_ms: float = 0.0
    peak_rss_mb: float = 0.0
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No loss, no crash, no wrong or late reply."""
        return not (self.lost or self.crashed or self.failures)

    def percentile(self, q: float) -> float:
        """The ``q`` quantile (0-1) of the reply latencies, ms (0 when none)."""
        if not self.latencies_ms:
            return 0.0
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        cuts = statistics.quantiles(self.latencies_ms, n=100, method="inclusive")
        return cuts[min(98, max(0, round(q * 100) - 1))]


@dataclass
class SelftestContext:
    """What a scenario gets: a scratch folder (deleted afterwards) and whether to be quick."""

    workdir: Path
    quick: bool = False


Scenario = Callable[[SelftestContext], Awaitable[ScenarioResult]]


@contextlib.asynccontextmanager
async def measured(result: ScenarioResult) -> AsyncIterator[TracebackCounter]:
    """Measure lag, peak RSS and tracebacks of the block into ``result``."""
    counter = redact_handler(TracebackCounter())  # sees records as the bot's own handlers do
    root = logging.getLogger()
    root.addHandler(counter)
    reset_peak_rss()
    try:
        async with LagMeter() as lag:
            yield counter
    finally:
        root.removeHandler(counter)
        result.max_lag_ms = lag.max_ms
        result.peak_rss_mb = peak_rss_mb()
        result.crashed += counter.tracebacks
        result.failures += [f"traceback logged: {line}" for line in counter.lines[:5]]


def _count(result: ScenarioResult, label: str, answers: Sequence[Any], latency: float | None,
           check: Callable[[Any], bool], within_s: float | None = None, once: bool = False) -> None:
    """Count one case from what the user got (``answers``, oldest first): answered (the first is right,
    in time; with ``once`` also the only one), lost (nothing) or a failure (wrong, late, repeated)."""
    result.tried += 1
    if not answers:
        result.lost += 1
        result.failures.append(f"{label}: no reply")
        return
    if latency is not None:
        result.latencies_ms.append(latency)
    if once and len(answers) > 1:
        result.failures.append(f"{label}: {len(answers)} replies")
    elif not check(answers[0]):
        result.failures.append(f"{label}: unexpected reply {str(answers[0])[:160]!r}")
    elif within_s is not None and latency is not None and latency > within_s * 1000:
        result.failures.append(f"{label}: answered after {latency:.0f} ms")
    else:
        result.answered += 1


def _score(result: ScenarioResult, bot: TelegramHarness, msg: dict[str, Any], check: Check, label: str,
           within_s: float | None = None) -> None:
    """Count one Telegram case by the text of the replies to ``msg``."""
    texts = [str(r.params.get("text", "")) for r in bot.replies(msg)]
    _count(result, label, texts, bot.latency_ms(msg), check, within_s)


async def scenario_bad_input(ctx: SelftestContext) -> ScenarioResult:
    """Every bad-input case at once (one private chat each), while another chat keeps sending normal
    photos; each must get its friendly reply within 2 s, and every normal photo its card."""
    result = ScenarioResult("telegram bad input")
    async with running_bot(ctx.workdir / "bad") as bot:
        cases = bad_inputs(bot.services.settings.max_image_bytes)
        built = [case.fields(bot.fake) for case in cases]  # generate the files before measuring
        normal = [bot.fake.photo_sizes(inputs.jpeg()) for _ in range(5)]
        async with measured(result):
            msgs = []
            for i, (case, fields) in enumerate(zip(cases, built, strict=True)):
                chat = bot.fake.group_chat(-100500 - i) if case.group else bot.fake.private_chat(5000 + i)
                msgs.append(bot.push(chat=chat, **fields))
            others = []
            for photo in normal:  # the bot keeps serving others meanwhile
                others.append(bot.push(chat=bot.fake.private_chat(4999), photo=photo))
                await asyncio.sleep(0.1)
            await bot.wait_replies(msgs + others, timeout=10.0)
        for case, msg in zip(cases, msgs, strict=True):
            _score(result, bot, msg, case.check, case.name, within_s=ANSWER_WITHIN_S)
        for i, msg in enumerate(others):
            _score(result, bot, msg, is_identification_card, f"normal photo {i + 1}",
                   within_s=ANSWER_WITHIN_S)
        result.crashed += 0 if bot.alive else 1
    result.notes.append(f"{len(cases)} bad inputs + {len(others)} normal photos from another chat, "
                        f"each answered within {ANSWER_WITHIN_S:.0f} s")
    return result


@dataclass(frozen=True)
class FaultCase:
    """A fault injected into the fake server, the message sent meanwhile, and the right reply."""

    name: str
    inject: Callable[[FakeTelegram], None]
    check: Check
    message: str = "photo"  # "photo" or "species"


def fault_cases(max_bytes: int) -> list[FaultCase]:
    """The network faults (issue 6). A reply is retried where that is right; otherwise the child gets
    the polite error message. ``max_bytes`` is the bot's ``MAX_IMAGE_BYTES``."""
    card: Check = is_identification_card
    species: Check = lambda text: "<b>Komodo dragon</b>" in text  # noqa: E731
    sorry = _one_of(m.ERROR_TEXT)
    too_big = _one_of(problem_html(m.too_large_text(max_bytes)))
    return [
        FaultCase("sendMessage 429 retry_after=1",
                  lambda f: f.fail("sendMessage", "Too Many Requests: retry after 1", 429, retry_after=1),
                  species, "species"),
        FaultCase("sendMessage 500", lambda f: f.fail("sendMessage", "Internal Server Error", 500), species,
                  "species"),
        FaultCase("sendMessage 502", lambda f: f.fail("sendMessage", "Bad Gateway", 502), species, "species"),
        FaultCase("sendMessage timeout", lambda f: f.delay("sendMessage", 1.5), species, "species"),
        FaultCase("sendMessage connection reset", lambda f: f.reset("sendMessage"), species, "species"),
        FaultCase("sendMessage malformed JSON", lambda f: f.malformed("sendMessage"), species, "species"),
        FaultCase("getFile 500 (retried)", lambda f: f.fail("getFile", "Internal Server Error", 500), card),
        FaultCase("getFile 502 x3 (gives up)", lambda f: f.fail("getFile", "Bad Gateway", 502, times=3),
                  sorry),
        FaultCase("getFile timeout", lambda f: f.delay("getFile", 1.5), card),
        FaultCase("getFile connection reset", lambda f: f.reset("getFile"), card),
        FaultCase("getFile malformed JSON", lambda f: f.malformed("getFile"), sorry),
        FaultCase("getFile file is too big", lambda f: f.fail("getFile", "Bad Request: file is too big"),
                  too_big),
        FaultCase("getFile 400 invalid file_id", lambda f: f.fail("getFile", "Bad Request: invalid file_id"),
                  sorry),
        FaultCase("download connection reset", lambda f: f.reset("download"), card),
        FaultCase("download 404", lambda f: f.fail("download", "Not Found", 404), sorry),
        FaultCase("getUpdates 500", lambda f: f.fail("getUpdates", "Internal Server Error", 500), species,
                  "species"),
        FaultCase("getUpdates 502", lambda f: f.fail("getUpdates", "Bad Gateway", 502), species, "species"),
        FaultCase("getUpdates 429 retry_after=1",
                  lambda f: f.fail("getUpdates", "Too Many Requests: retry after 1", 429, retry_after=1),
                  species, "species"),
        FaultCase("getUpdates connection reset", lambda f: f.reset("getUpdates"), species, "species"),
        FaultCase("getUpdates malformed JSON", lambda f: f.malformed("getUpdates"), species, "species"),
    ]


async def _until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def scenario_faults(ctx: SelftestContext) -> ScenarioResult:
    """Each network fault in turn, with a message sent while it is armed; the bot must answer (after
    retrying) or apologise, log no traceback, and keep running."""
    result = ScenarioResult("telegram network faults")
    async with running_bot(ctx.workdir / "faults") as bot, measured(result):
        for i, case in enumerate(fault_cases(bot.services.settings.max_image_bytes)):
            case.inject(bot.fake)
            if "getUpdates" in bot.fake.faults:  # let a poll hit the fault before the message is sent
                await _until(lambda: bot.fake.pending_faults() == 0, 5.0)
            chat = bot.fake.private_chat(6000 + i)
            if case.message == "species":
                msg = bot.push(chat=chat, text="/species komodo")
            else:
                msg = bot.push(chat=chat, photo=bot.fake.photo_sizes(inputs.jpeg()))
            await bot.wait_replies([msg], timeout=10.0)
            _score(result, bot, msg, case.check, case.name)
            bot.fake.faults.clear()
            if not bot.alive:
                result.crashed += 1
                break
    result.notes.append("429/500/502/timeouts/resets/malformed JSON on sendMessage, getFile, the download "
                        "and getUpdates: each answered (after retries) or apologised for")
    return result


async def scenario_flood(ctx: SelftestContext) -> ScenarioResult:
    """500 photos from 100 chats at once, with a 4-photo inference queue and 2 workers: every photo gets
    exactly one reply (its card, or the polite busy message)."""
    n_chats, per_chat = (20, 5) if ctx.quick else (100, 5)
    result = ScenarioResult(f"telegram flood ({n_chats * per_chat} photos, {n_chats} chats)")
    photos = [inputs.jpeg((320 + 16 * i, 240)) for i in range(5)]
    async with running_bot(ctx.workdir / "flood", inference_queue=4, inference_workers=2) as bot:
        sizes = [[bot.fake.photo_sizes(photos[j]) for j in range(per_chat)] for _ in range(n_chats)]
        async with measured(result):
            # all at once: nothing else runs on the loop until every update is queued
            msgs = [bot.push(chat=bot.fake.private_chat(10_000 + chat_n), photo=sizes[chat_n][j])
                    for chat_n in range(n_chats) for j in range(per_chat)]
            await bot.wait_replies(msgs, timeout=120.0)
        busy = duplicates = 0
        for i, msg in enumerate(msgs):
            _score(result, bot, msg, is_busy_or_card, f"photo {i + 1}")
            got = bot.replies(msg)
            duplicates += max(0, len(got) - 1)
            busy += bool(got) and got[0].params.get("text") == problem_html(m.BUSY_TEXT)
        if duplicates:
            result.failures.append(f"{duplicates} duplicate replies")
        result.crashed += 0 if bot.alive else 1
    if result.max_lag_ms >= MAX_LAG_MS:
        result.failures.append(f"event-loop lag {result.max_lag_ms:.0f} ms >= {MAX_LAG_MS:.0f} ms")
    result.notes.append(f"{result.answered - busy} cards, {busy} polite busy replies (inference queue 4, "
                        "2 workers), 0 duplicates" if not duplicates else f"{duplicates} duplicates")
    return result


async def scenario_rate_limit(ctx: SelftestContext) -> ScenarioResult:
    """One child sends 12 photos in a row with a limit of 8 per minute: 8 cards, then 4 friendly
    "please wait" replies."""
    result = ScenarioResult("telegram per-user rate limit")
    async with running_bot(ctx.workdir / "rate", user_rate_limit=8, user_rate_window_s=60.0) as bot, \
            measured(result):
        chat = bot.fake.private_chat(7000)
        msgs = []
        for _ in range(12):
            msgs.append(bot.push(chat=chat, photo=bot.fake.photo_sizes(inputs.jpeg())))
            await asyncio.sleep(0.05)  # in order, so the first 8 are the ones allowed
        await bot.wait_replies(msgs, timeout=20.0)
        for i, msg in enumerate(msgs):
            check = is_identification_card if i < 8 else is_rate_limited
            _score(result, bot, msg, check, f"photo {i + 1}")
    result.notes.append("limit 8 photos per 60 s: photos 9-12 got the friendly wait message")
    return result


# ---------------------------------------------------------------------------------------------------
# Discord: the real discord.py client (serve_discord) against the fake Discord API and gateway
# ---------------------------------------------------------------------------------------------------

#: The token the bot logs in with at the fake Discord.
DISCORD_TOKEN = "selftest-discord-token"
_DISCORD_PROBLEM_TITLE = render_embed(problem_card("x")).title


@dataclass
class DiscordHarness:
    """A running Discord bot (``serve_discord``) and its fake Discord API and gateway."""

    fake: FakeDiscord
    services: Services
    task: asyncio.Task[None]
    sent_at: dict[str, float] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        """True while ``serve_discord`` is running."""
        return not self.task.done()

    def payloads(self, user_id: int) -> Payloads:
        """Interactions from user ``user_id`` in the fake server (each user has its own rate limit)."""
        return Payloads(self.fake).as_user(user_id, f"kid{user_id}")

    async def photo(self, user_id: int, data: bytes, name: str, content_type: str | None,
                    size: int | None = None) -> dict[str, Any]:
        """``/reptile photo:<file>`` from ``user_id`` over the gateway; returns the payload. ``size`` is
        the declared attachment size (default ``len(data)``)."""
        payloads = self.payloads(user_id)
        url = self.fake.add_file(f"{self.fake.next_id()}-{name}", data,
                                 content_type or "application/octet-stream")
        att = payloads.attachment(name, url, size=len(data) if size is None else size,
                                  content_type=content_type)
        payload = payloads.slash_with_attachment("reptile", "photo", att)
        await self.send(payload)
        return payload

    async def send(self, payload: dict[str, Any]) -> None:
        """Dispatch an INTERACTION_CREATE as Discord's gateway would, and remember when."""
        self.sent_at[payload["token"]] = time.monotonic()
        await self.fake.gateway_dispatch("INTERACTION_CREATE", payload)

    def answers(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """The embeds the user sees for ``payload``: its follow-ups, then the original response when it
        carries an embed (the "thinking" message edited into the card, or an immediate answer)."""
        token = payload["token"]
        out = [e for msg in self.fake.followup_messages(token) for e in msg.get("embeds") or []]
        original = self.fake.original(token)
        if original and original.get("embeds"):
            out += original["embeds"]
        return out

    def latency_ms(self, payload: dict[str, Any]) -> float | None:
        """Milliseconds from dispatching ``payload`` to the last request made with its token."""
        token = payload["token"]
        times = [r.at for r in self.fake.for_token(token)]
        start = self.sent_at.get(token)
        return (max(times) - start) * 1000 if times and start is not None and self.answers(payload) else None

    async def wait_answers(self, payloads: Sequence[dict[str, Any]], timeout: float) -> None:
        """Wait until every payload has an answer (or ``timeout`` s, or the bot died)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive:
            if all(self.answers(p) for p in payloads):
                return
            await asyncio.sleep(0.02)


def is_discord_card(embed: dict[str, Any]) -> bool:
    """A fact card (reptile or not) rather than a problem embed."""
    return bool(embed.get("title")) and embed.get("title") != _DISCORD_PROBLEM_TITLE


def _says(text: str) -> Callable[[dict[str, Any]], bool]:
    """True for a problem embed whose text contains ``text``."""
    return lambda embed: (embed.get("title") == _DISCORD_PROBLEM_TITLE
                          and text in (embed.get("description") or ""))


@contextlib.asynccontextmanager
async def running_discord(workdir: Path, **overrides: Any) -> AsyncIterator[DiscordHarness]:
    """Start a fake Discord API and gateway and ``serve_discord`` connected to it; stop both afterwards.

    discord.py's REST base and gateway URL are pointed at the fake for the duration (and restored).

    Raises:
        RuntimeError: when the bot was not ready on the fake gateway within 20 s.
    """
    fake = await FakeDiscord().start()
    old_base, old_gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    services: Services | None = None
    task: asyncio.Task[None] | None = None
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        values: dict[str, Any] = {"discord_bot_token": DISCORD_TOKEN, "telegram_bot_token": None,
                                  "state_db_path": workdir / "state.sqlite", "admin_ids": ""}
        values.update(overrides)
        services = await open_services(Settings(_env_file=None, **values))  # type: ignore[arg-type]
        task = asyncio.create_task(serve_discord(services))
        up = services.platforms_up
        try:  # ready: READY received and discord.py's wait for the servers' GUILD_CREATE over (on_ready)
            await fake.wait_for(lambda f: up.get("discord", False) or task.done(), timeout=20.0)
        except TimeoutError:
            raise RuntimeError("serve_discord was not ready on the fake gateway within 20 s") from None
        if task.done():
            raise RuntimeError(f"serve_discord stopped at start-up: {task.exception()!r}")
        yield DiscordHarness(fake, services, task)
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 30.0)
        if services is not None:
            await services.close()
        await fake.close()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


@dataclass(frozen=True)
class DiscordInput:
    """One bad (or awkward) attachment sent with ``/reptile`` and the right answer."""

    name: str
    data: Callable[[], bytes]
    filename: str
    content_type: str | None
    check: Callable[[dict[str, Any]], bool]
    size: int | None = None


def discord_inputs(max_bytes: int) -> list[DiscordInput]:
    """The Discord bad-input matrix: the files of the Telegram one that Discord can carry as
    attachments. ``max_bytes`` is the bot's ``MAX_IMAGE_BYTES``."""
    card = is_discord_card
    reject = m.REJECT_TEXT
    corrupt = lambda e: _says(reject[RejectReason.CORRUPT])(e) or _says(reject[RejectReason.NOT_AN_IMAGE])(e)  # noqa: E731
    return [
        DiscordInput("empty-jpeg", lambda: b"", "empty.jpg", "image/jpeg", _says(reject[RejectReason.EMPTY])),
        DiscordInput("truncated-jpeg", lambda: inputs.truncated(inputs.jpeg()), "cut.jpg", "image/jpeg",
                     corrupt),
        DiscordInput("corrupt-png", lambda: inputs.corrupted(inputs.png()), "bad.png", "image/png", corrupt),
        DiscordInput("text-named-jpg", lambda: inputs.TEXT, "photo.jpg", "image/jpeg",
                     _says(reject[RejectReason.NOT_AN_IMAGE])),
        DiscordInput("pdf", lambda: inputs.PDF, "homework.pdf", "application/pdf",
                     _says(reject[RejectReason.NOT_AN_IMAGE])),
        DiscordInput("svg", lambda: inputs.SVG, "drawing.svg", "image/svg+xml",
                     _says(reject[RejectReason.UNSUPPORTED])),
        DiscordInput("png-bomb-30000px", inputs.png_bomb, "bomb.png", "image/png",
                     _says(reject[RejectReason.TOO_MANY_PIXELS])),
        DiscordInput("1x1-png", inputs.one_pixel, "dot.png", "image/png",
                     _says(reject[RejectReason.TOO_SMALL])),
        DiscordInput("declared-too-large", inputs.png, "huge.png", "image/png",
                     _says(m.too_large_text(max_bytes)), size=max_bytes + 1),
        DiscordInput("16bit-png", inputs.png_16bit, "deep.png", "image/png", card),
        DiscordInput("cmyk-jpeg", inputs.cmyk_jpeg, "print.jpg", "image/jpeg", card),
        DiscordInput("exif-rotated-jpeg", inputs.exif_rotated_jpeg, "rotated.jpg", "image/jpeg", card),
        DiscordInput("palette-png-alpha", inputs.palette_png_transparent, "pal.png", "image/png", card),
        DiscordInput("animated-gif", inputs.animated_gif, "anim.gif", "image/gif", card),
        DiscordInput("animated-webp", inputs.animated_webp, "anim.webp", "image/webp", card),
        DiscordInput("heic", inputs.heic, "IMG_0001.HEIC", "image/heic", card),
    ]


def _score_discord(result: ScenarioResult, bot: DiscordHarness, payload: dict[str, Any],
                   check: Callable[[dict[str, Any]], bool], label: str,
                   within_s: float | None = None) -> None:
    """Count one Discord case by the embeds the user sees; more than one answer is a failure."""
    _count(result, label, bot.answers(payload), bot.latency_ms(payload), check, within_s, once=True)


async def scenario_discord_bad_input(ctx: SelftestContext) -> ScenarioResult:
    """Every Discord bad-input attachment at once (one user each), while another user sends normal
    pictures; each must get its one right answer within 2 s."""
    result = ScenarioResult("discord bad input")
    async with running_discord(ctx.workdir / "discord-bad") as bot:
        cases = discord_inputs(bot.services.settings.max_image_bytes)
        built = [case.data() for case in cases]  # generate the files before measuring
        async with measured(result):
            sent = [await bot.photo(1_600_000 + i, data, case.filename, case.content_type, case.size)
                    for i, (case, data) in enumerate(zip(cases, built, strict=True))]
            normal = [await bot.photo(1_699_999, inputs.jpeg(), "lizard.jpg", "image/jpeg") for _ in range(3)]
            await bot.wait_answers(sent + normal, timeout=10.0)
        for case, payload in zip(cases, sent, strict=True):
            _score_discord(result, bot, payload, case.check, case.name, within_s=ANSWER_WITHIN_S)
        for i, payload in enumerate(normal):
            _score_discord(result, bot, payload, is_discord_card, f"normal picture {i + 1}",
                           within_s=ANSWER_WITHIN_S)
        result.crashed += 0 if bot.alive else 1
    result.notes.append(f"{len(cases)} bad attachments + {len(normal)} normal pictures via the fake gateway, "
                        f"each answered once within {ANSWER_WITHIN_S:.0f} s")
    return result


#: Interaction callback / original-response paths of the fake Discord API.
_CALLBACK = r"/interactions/\d+/[^/]+/callback"
_ORIGINAL = r"/webhooks/\d+/[^/]+/messages/@original"
#: A 429 as Discord sends it (discord.py honours ``retry_after`` only with Cloudflare's ``Via`` header).
_RATE_LIMITED = ({"message": "You are being rate limited.", "retry_after": 0.2, "global": False},
                 {"Via": "1.1 google", "Retry-After": "1", "X-RateLimit-Limit": "5",
                  "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "0.2", "X-RateLimit-Bucket": "b1",
                  "X-RateLimit-Scope": "user"})


async def scenario_discord_faults(ctx: SelftestContext) -> ScenarioResult:
    """429 and 500 on the interaction callback and on the edit that carries the card, and a picture
    download that fails: each retried until the user gets the answer, or answered kindly."""
    result = ScenarioResult("discord faults")
    body, headers = _RATE_LIMITED
    server_error = {"message": "500: Internal Server Error", "code": 0}
    cases: list[tuple[str, Callable[[FakeDiscord], None], Callable[[dict[str, Any]], bool]]] = [
        ("callback 429", lambda f: f.fail("POST", _CALLBACK, 429, body, headers=headers), is_discord_card),
        ("callback 500", lambda f: f.fail("POST", _CALLBACK, 500, server_error), is_discord_card),
        ("card edit 429", lambda f: f.fail("PATCH", _ORIGINAL, 429, body, headers=headers), is_discord_card),
        ("card edit 500", lambda f: f.fail("PATCH", _ORIGINAL, 500, server_error), is_discord_card),
        ("download 404", lambda f: None, lambda e: not is_discord_card(e)),
    ]
    async with running_discord(ctx.workdir / "discord-faults") as bot, measured(result):
        for i, (name, inject, check) in enumerate(cases):
            if name.startswith("download"):  # an attachment URL the CDN answers 404
                payload = await _missing_file(bot, 1_700_000 + i)
            else:
                inject(bot.fake)
                payload = await bot.photo(1_700_000 + i, inputs.jpeg(), "lizard.jpg", "image/jpeg")
            await bot.wait_answers([payload], timeout=15.0)
            _score_discord(result, bot, payload, check, name)
            if not bot.alive:
                result.crashed += 1
                break
    result.notes.append("429 (retry_after) and 500 on the interaction callback and the card edit, a "
                        "picture that cannot be downloaded: each answered once (after retries) or kindly")
    return result


async def _missing_file(bot: DiscordHarness, user_id: int) -> dict[str, Any]:
    """``/reptile`` with an attachment whose URL the CDN answers 404."""
    payloads = bot.payloads(user_id)
    url = f"{bot.fake.base_url}/files/gone-{bot.fake.next_id()}.jpg"
    att = payloads.attachment("gone.jpg", url, size=2048, content_type="image/jpeg")
    payload = payloads.slash_with_attachment("reptile", "photo", att)
    await bot.send(payload)
    return payload


async def scenario_discord_flood(ctx: SelftestContext) -> ScenarioResult:
    """200 pictures from 100 users at once (inference queue 4, 2 workers): every one gets exactly one
    answer, its card or the polite busy message."""
    n_users, per_user = (20, 2) if ctx.quick else (100, 2)
    result = ScenarioResult(f"discord flood ({n_users * per_user} pictures, {n_users} users)")
    pictures = [inputs.jpeg((320 + 16 * i, 240)) for i in range(per_user)]
    busy_or_card = lambda e: is_discord_card(e) or _says(m.BUSY_TEXT)(e)  # noqa: E731
    async with running_discord(ctx.workdir / "discord-flood", inference_queue=4, inference_workers=2) as bot:
        async with measured(result):
            sent = [await bot.photo(1_800_000 + u, pictures[j], f"p{j}.jpg", "image/jpeg")
                    for u in range(n_users) for j in range(per_user)]
            await bot.wait_answers(sent, timeout=120.0)
        busy = duplicates = 0
        for i, payload in enumerate(sent):
            _score_discord(result, bot, payload, busy_or_card, f"picture {i + 1}")
            got = bot.answers(payload)
            busy += bool(got) and _says(m.BUSY_TEXT)(got[0])
            duplicates += max(0, len(got) - 1)
        result.crashed += 0 if bot.alive else 1
    if result.max_lag_ms >= MAX_LAG_MS:
        result.failures.append(f"event-loop lag {result.max_lag_ms:.0f} ms >= {MAX_LAG_MS:.0f} ms")
    result.notes.append(f"{result.answered - busy} cards, {busy} polite busy answers "
                        f"(inference queue 4, 2 workers), {duplicates} duplicates")
    return result


#: Every scenario, in report order. Other platforms append theirs.
SCENARIOS: list[Scenario] = [scenario_bad_input, scenario_faults, scenario_flood, scenario_rate_limit,
                             scenario_discord_bad_input, scenario_discord_faults, scenario_discord_flood]


# ---------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------


def table(results: Sequence[ScenarioResult]) -> str:
    """The Markdown report table, followed by notes and failures."""
    lines = [
        "| scenario | cases tried | answered | lost | crashed | p50 reply ms | p95 reply ms "
        "| max event-loop lag ms | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r.name} | {r.tried} | {r.answered} | {r.lost} | {r.crashed} | "
                     f"{r.percentile(0.5):.0f} | {r.percentile(0.95):.0f} | {r.max_lag_ms:.0f} | "
                     f"{r.peak_rss_mb:.0f} |")
    lines.append("")
    for r in results:
        for note in r.notes:
            lines.append(f"- {r.name}: {note}")
    problems = [f"- FAIL {r.name}: {f}" for r in results for f in r.failures[:20]]
    lines += ["", *problems] if problems else []
    return "\n".join(lines)


async def run_selftest(
    scenarios: Sequence[Scenario] = SCENARIOS, quick: bool = False
) -> list[ScenarioResult]:
    """Run ``scenarios`` one after another in a scratch folder; a scenario that raises counts as
    crashed."""
    results = []
    with tempfile.TemporaryDirectory(prefix="reptile-selftest-") as tmp:
        ctx = SelftestContext(Path(tmp), quick)
        for scenario in scenarios:
            # Each scenario starts like a fresh bot process: what earlier scenarios left (their fakes,
            # recorded requests, closed services) is collected, and what survives (modules, caches) is
            # frozen out of the collector, so a full run's growing heap does not lengthen the
            # garbage collector's pauses (measured up to 124 ms) and show up as event-loop lag.
            gc.collect()
            gc.freeze()
            started = time.monotonic()
            try:
                result = await scenario(ctx)
            except Exception as exc:
                log.exception("selftest scenario %s failed", scenario.__name__)
                result = ScenarioResult(scenario.__name__, crashed=1, failures=[f"raised {exc!r}"])
            log.info("selftest: %s done in %.1f s", result.name, time.monotonic() - started)
            results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tests.tools.selftest [--only NAME] [--quick] [--verbose]``; exit 0 when every scenario
    passed, 1 otherwise."""
    p = argparse.ArgumentParser(prog="python -m tests.tools.selftest", description=__doc__.split("\n")[0])
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="run only scenarios whose function name contains NAME (repeatable)")
    p.add_argument("--quick", action="store_true", help="a smaller flood (100 photos)")
    p.add_argument("--verbose", action="store_true", help="show the bot's log (warnings and up)")
    args = p.parse_args(argv)
    # Records flow at INFO (the traceback counter sees them); the console shows warnings with --verbose.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        redact_handler(handler)
        handler.setLevel(logging.WARNING if args.verbose else logging.CRITICAL + 1)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    chosen = [s for s in SCENARIOS if not args.only or any(o in s.__name__ for o in args.only)]
    if not chosen:
        print(f"no scenario matches {args.only}; have {[s.__name__ for s in SCENARIOS]}", file=sys.stderr)
        return 2
    started = time.monotonic()
    results = asyncio.run(run_selftest(chosen, quick=args.quick))
    print(table(results))
    ok = all(r.ok for r in results)
    print(f"\n{'PASS' if ok else 'FAIL'} in {time.monotonic() - started:.0f} s "
          f"(criteria: nothing lost or crashed, every reply right, bad input answered within "
          f"{ANSWER_WITHIN_S:.0f} s, event-loop lag < {MAX_LAG_MS:.0f} ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
