"""The real bot process (``python -m bot``) against the fake Telegram Bot API: restarts and privacy.

* SIGTERM with a photo in flight: the photo is still answered, the process exits 0 and logs a clean
  shutdown; nothing but the state database is written to the working directory or ``TMPDIR``, and the
  photo's bytes are not in the state database.
* The whole run's output (``LOG_LEVEL=DEBUG``) is searched for the bot token, plain and URL-encoded.
* kill -9 in the middle of a quiz: every committed answer and score is still in the state database
  (WAL), and the next start-up marks the cut-off round ``interrupted``.

Each process is bounded by timeouts; the fake server runs in the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from PIL import Image

from bot.services import open_services
from bot.settings import Settings
from bot.state.quiz import INTERRUPTED, RUNNING
from tests.fakes.fake_telegram import FAKE_TOKEN, FakeTelegram

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90.0
EXIT_TIMEOUT_S = 40.0

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


class SlowFiles(FakeTelegram):
    """The fake Bot API holding file downloads open: :attr:`download_started` is set when one begins,
    and it is answered once the test sets :attr:`release` (instead of after a fixed delay, which a
    loaded machine could outlast before the bot even saw the signal)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.download_started = asyncio.Event()
        self.release = asyncio.Event()

    async def _download(self, request: web.Request) -> web.StreamResponse:
        self.download_started.set()
        await self.release.wait()
        return await super()._download(request)


class BotProcess:
    """``python -m bot`` in ``workdir`` with a clean environment; output goes to ``log_path``."""

    def __init__(self, fake: FakeTelegram, workdir: Path, tmpdir: Path, log_path: Path) -> None:
        self.log_path = log_path
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmpdir.parent / "home"),
            "TMPDIR": str(tmpdir),
            "PYTHONPATH": str(REPO),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "DEBUG",
            "TELEGRAM_BOT_TOKEN": FAKE_TOKEN,
            "TELEGRAM_BASE_URL": fake.base_url,
            "TELEGRAM_BASE_FILE_URL": fake.base_file_url,
            "STATE_DB_PATH": str(workdir / "state.sqlite"),
            "SPECIES_DB_PATH": str(Settings(_env_file=None).species_db_path),
            "SETTINGS_SECRETS_DIR": "",
            "INFERENCE_WORKERS": "1",
            "QUIZ_OPEN_PERIOD_S": "600",
        }
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT,
        )

    async def wait(self, timeout: float = EXIT_TIMEOUT_S) -> int:
        """Wait for the exit status (keeping the event loop, and so the fake server, running)."""
        deadline = time.monotonic() + timeout
        while (rc := self.proc.poll()) is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"bot did not exit within {timeout} s; log:\n{self.output()[-3000:]}")
            await asyncio.sleep(0.05)
        self._log.close()
        return rc

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@contextlib.asynccontextmanager
async def running_bot(fake: FakeTelegram, workdir: Path, tmpdir: Path, log_path: Path
                      ) -> AsyncIterator[BotProcess]:
    bot = BotProcess(fake, workdir, tmpdir, log_path)
    try:
        try:
            await fake.wait_for("getUpdates", timeout=START_TIMEOUT_S)
        except AssertionError:
            raise AssertionError(f"bot did not start polling; log:\n{bot.output()[-3000:]}") from None
        yield bot
    finally:
        bot.kill()


def png_bytes() -> bytes:
    img = Image.new("RGB", (240, 180))
    img.putdata([((x * 7) % 256, (y * 5) % 256, (x * y) % 256) for y in range(180) for x in range(240)])
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(working directory, TMPDIR, folder for the process output), the first two empty; ``HOME`` is
    a fourth folder next to them (checked too: onnxruntime's telemetry would write under ~/.cache)."""
    out = []
    for name in ("work", "tmp", "logs", "home"):
        (tmp_path / name).mkdir()
        out.append(tmp_path / name)
    return out[0], out[1], out[2]


def assert_no_token(output: str) -> None:
    for form in {FAKE_TOKEN, quote(FAKE_TOKEN, safe=""), quote(FAKE_TOKEN), FAKE_TOKEN.split(":")[1]}:
        assert form not in output, f"the token ({form[:12]}...) leaked into the output"


# ---------------------------------------------------------------------------------------------- SIGTERM
async def test_sigterm_finishes_the_photo_in_flight_exits_0_and_leaks_nothing(dirs) -> None:
    workdir, tmpdir, logs = dirs
    photo = png_bytes()
    chat = FakeTelegram.private_chat(4711)
    async with SlowFiles() as fake, running_bot(fake, workdir, tmpdir, logs / "run.log") as bot:
        fake.push_message(chat=chat, photo=fake.photo_sizes(photo, 240, 180))
        await asyncio.wait_for(fake.download_started.wait(), 30)
        bot.proc.send_signal(signal.SIGTERM)
        sent_at = len(fake.requests)
        # The photo is still downloading when the bot handles the signal: answer the download only then.
        await _until(lambda: "SIGTERM received" in bot.output(), bot, "the bot did not log the SIGTERM")
        fake.release.set()
        rc = await bot.wait()
        output = bot.output()

        assert rc == 0, output[-3000:]
        replies = [r for r in fake.requests[sent_at:]
                   if r.method == "sendMessage" and str(r.params.get("chat_id")) == "4711"]
        assert replies, f"the photo in flight was not answered; log:\n{output[-3000:]}"
        assert "Oops" not in str(replies[0].params.get("text")), replies[0].params

    assert "SIGTERM received" in output
    assert "shut down cleanly" in output
    assert "did not stop within" not in output  # the platform finished on its own
    assert " DEBUG " in output, "the run logged at DEBUG level"
    assert_no_token(output)

    # No photo bytes on disk: only the state database (and its WAL files) in the working directory,
    # nothing in TMPDIR, and the photo is not inside the database.
    assert files_in(tmpdir) == set()
    assert files_in(tmpdir.parent / "home") == set()  # onnxruntime telemetry is off (bot/__init__.py)
    assert files_in(workdir) <= {"state.sqlite", "state.sqlite-wal", "state.sqlite-shm"}
    assert "state.sqlite" in files_in(workdir)
    for path in [*workdir.rglob("*"), *(tmpdir.parent / "home").rglob("*")]:
        if path.is_file():
            blob = path.read_bytes()
            assert photo[:4096] not in blob and photo[-4096:] not in blob, path


# ---------------------------------------------------------------------------------------------- kill -9
def _db_counts(path: Path) -> tuple[int, int]:
    """(answers, right answers) read by another connection while the bot runs (WAL allows it)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as conn:
        answers = conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        right = conn.execute("SELECT COALESCE(SUM(correct), 0) FROM answers").fetchone()[0]
    return answers, right


def _question_ids(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as conn:
        return [r[0] for r in conn.execute("SELECT message_id FROM questions ORDER BY id")]


async def _until(condition, bot: BotProcess, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout} s; log:\n{bot.output()[-3000:]}"
        await asyncio.sleep(0.05)


async def test_kill_9_mid_quiz_keeps_committed_scores_and_startup_repairs(dirs) -> None:
    workdir, tmpdir, logs = dirs
    db = workdir / "state.sqlite"
    group = FakeTelegram.group_chat(-100555)
    kids = [FakeTelegram.user(501, "Ana"), FakeTelegram.user(502, "Ben"), FakeTelegram.user(503, "Cy")]
    async with FakeTelegram() as fake, running_bot(fake, workdir, tmpdir, logs / "run.log") as bot:
        fake.push_message(chat=group, from_user=kids[0], text="/quiz 5")
        poll_msg = await fake.wait_for("sendPoll", timeout=30)
        poll = poll_msg.result["poll"]
        correct = poll["correct_option_ids"][0] if isinstance(poll.get("correct_option_ids"), list) \
            else int(poll.get("correct_option_id", 0))
        wrong = (correct + 1) % len(poll["options"])
        await _until(lambda: _question_ids(db) == [poll["id"]], bot, "the poll id was not stored")
        fake.push_poll_answer(poll["id"], kids[0], [correct])
        fake.push_poll_answer(poll["id"], kids[1], [correct])
        fake.push_poll_answer(poll["id"], kids[2], [wrong])
        await _until(lambda: _db_counts(db) == (3, 2), bot, "the answers were not recorded")

        bot.proc.send_signal(signal.SIGKILL)
        assert await bot.wait() == -signal.SIGKILL
        assert_no_token(bot.output())

    # Committed before the kill: still there (the WAL is replayed by the next connection). The
    # question was open, so its points are not in the scores yet (issue 15: they count at the close).
    with contextlib.closing(sqlite3.connect(db)) as conn:
        answers = dict(conn.execute("SELECT user_id, correct FROM answers"))
        scores = dict(conn.execute("SELECT user_id, points FROM scores WHERE platform = 'telegram'"))
        (status,) = conn.execute("SELECT status FROM rounds").fetchone()
    assert answers == {"501": 1, "502": 1, "503": 0}
    assert scores == {}
    assert status == RUNNING  # nobody closed it

    settings = Settings(_env_file=None, state_db_path=db)
    services = await open_services(settings)
    try:
        (cut_off,) = services.interrupted_rounds
        assert (cut_off.platform, cut_off.chat_id) == ("telegram", "-100555")
        row = await services.state.get_round(cut_off.id)
        assert row is not None and row.status == INTERRUPTED
        # The start-up settles the cut question: the answers given before the kill count.
        assert [(r.user_id, r.points) for r in await services.state.leaderboard("telegram", "-100555")] \
            == [("501", 1), ("502", 1)]
        cy = await services.state.user_score("telegram", "-100555", "503")
        assert cy is not None and (cy.points, cy.answered) == (0, 1)
        (cut_question,) = services.cut_questions
        assert cut_question.post_message_id == str(poll_msg.result["message_id"])
    finally:
        await services.close()
