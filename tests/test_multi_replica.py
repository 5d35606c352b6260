"""Two webhook replicas as real processes (issue 13): ``reptile-museum run`` twice, sharing a fresh
PostgreSQL database and Redis, behind a round-robin proxy on 127.0.0.1, talking to the fake Bot API in
this process. Telegram is played by :class:`tests.replica_processes.TelegramDeliverer` (an update whose
request fails or times out is delivered again). 300 photos (real small JPEGs, the real model) and a quiz
of 5 questions with 10 players flow through the proxy; one replica is SIGKILLed in the middle.

What is checked, as a user would see it:

* every photo gets a reply, at most one, except an update Telegram delivered more than once, which gets
  at most two: the webhook is answered only after an update was handled, so an update the killed
  replica had not finished is delivered again and, once its claim expired (``TELEGRAM_UPDATE_LEASE_S``),
  handled by the survivor;
* every player's answered and right counts on the leaderboard lie between the answers that never
  reached the killed replica and all the answers given (nothing double-counted, nothing lost that only
  a living replica received);
* the quiz finishes (round closed, summary posted) on the surviving replica.

Killing the replica that runs the round checks the round lease and takeover; a photo the killed
replica was in the middle of (its download held up) must be answered by the other replica.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from bot.core.shared_ratelimit import RedisRateLimiter
from bot.settings import PROJECT_ROOT
from bot.state.store import StateStore
from tests.fakes.fake_telegram import FAKE_TOKEN, FakeTelegram
from tests.replica_processes import (
    BotProcess,
    RoundRobinProxy,
    TelegramDeliverer,
    free_port,
    poll_until,
)
from tests.state_backends import REDIS_URL, drop_postgres_database, fresh_postgres_database, unavailable
from tests.synthetic_photos import STYLES, photo
from tests.tools.selftest import delivered, key_of, reply_key

pytestmark = pytest.mark.slow

GROUP = -100_555_000
QUESTIONS = 5
PLAYERS = [(9001 + i, f"Player{i}") for i in range(10)]
OPEN_PERIOD_S = 8
#: The round lease is renewed this often (s); it lives three renewals, so the survivor takes a dead
#: replica's round over at most about 4 s after the last renewal, well within one open period.
LEASE_RENEW_S = 1
#: An update stays claimed this long (s) by the replica handling it: longer than any photo takes here
#: (the held-up download of the mid-update test takes 10 s), short enough for the re-deliveries.
UPDATE_LEASE_S = 12
#: Upper bound of the waits for replies and for the quiz, seconds (generous: 2 cores, other jobs).
WAIT_S = 150.0


def _jpegs(n: int, seed: int) -> list[bytes]:
    """``n`` distinct small JPEGs drawn by :mod:`tests.synthetic_photos`."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        colour, shape = STYLES[i % len(STYLES)]
        buf = io.BytesIO()
        photo(rng, colour, shape).save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


@dataclass
class Topology:
    """The running topology of one test."""

    fake: FakeTelegram
    proxy: RoundRobinProxy
    replicas: list[BotProcess]
    telegram: TelegramDeliverer
    store: StateStore
    db_url: str
    update_ids: itertools.count = field(default_factory=lambda: itertools.count(500_001))

    def update(self, **body: object) -> dict:
        """An update with a fresh ``update_id``."""
        return {"update_id": next(self.update_ids), **body}


async def _require_servers() -> tuple[str, str]:
    url = await fresh_postgres_database()  # skips (fails in CI) without PostgreSQL
    if not await RedisRateLimiter(REDIS_URL, 1, 60).ping():
        await drop_postgres_database(url)
        unavailable(f"Redis at {REDIS_URL}", ConnectionError("no answer to PING"))
    return url, REDIS_URL


@pytest.fixture
async def topology(tmp_path: Path) -> AsyncIterator[Topology]:
    db_url, redis_url = await _require_servers()
    secret = secrets.token_urlsafe(24)
    hook_ports = [free_port(), free_port()]
    replicas: list[BotProcess] = []
    store: StateStore | None = None
    try:
        async with FakeTelegram() as fake:
            proxy = await RoundRobinProxy(hook_ports).start()
            try:
                for i, port in enumerate(hook_ports):
                    replicas.append(BotProcess(f"replica{i}", {
                        "TELEGRAM_BOT_TOKEN": FAKE_TOKEN,
                        "TELEGRAM_BASE_URL": fake.base_url,
                        "TELEGRAM_BASE_FILE_URL": fake.base_file_url,
                        "TELEGRAM_WEBHOOK_URL": proxy.url,
                        "TELEGRAM_WEBHOOK_LISTEN": "127.0.0.1",
                        "TELEGRAM_WEBHOOK_PORT": str(port),
                        "TELEGRAM_WEBHOOK_SECRET": secret,
                        "DISCORD_BOT_TOKEN": "",
                        "STATE_DB_URL": db_url,
                        "REDIS_URL": redis_url,
                        "SPECIES_DB_PATH": str(PROJECT_ROOT / "species.sqlite"),
                        "QUIZ_OPEN_PERIOD_S": str(OPEN_PERIOD_S),
                        "QUIZ_LEASE_RENEW_S": str(LEASE_RENEW_S),
                        "TELEGRAM_UPDATE_LEASE_S": str(UPDATE_LEASE_S),
                        "INFERENCE_WORKERS": "1",
                        "LOG_LEVEL": "INFO",
                    }, tmp_path, free_port()))
                for r in replicas:  # one after the other: see tests/test_replica_startup.py
                    await r.start()
                    await r.wait_ready()
                store = await StateStore.open(db_url)
                async with TelegramDeliverer(proxy.url, secret) as telegram:
                    yield Topology(fake, proxy, replicas, telegram, store, db_url)
            finally:
                for r in replicas:
                    await r.kill()
                await proxy.close()
    finally:
        if store is not None:
            await store.close()
        await drop_postgres_database(db_url)


@dataclass
class Quiz:
    """The quiz played by :func:`_play_quiz`: every answer given, and the update that carried it."""

    start_update: int = 0
    round_id: int | None = None
    polls: list[dict] = field(default_factory=list)
    #: (update_id, user_id, right?, poll id, option) of every poll answer sent.
    answers: list[tuple[int, int, bool, str, int]] = field(default_factory=list)
    second_question: asyncio.Event = field(default_factory=asyncio.Event)


async def _play_quiz(top: Topology, quiz: Quiz, seed: int) -> None:
    """Start ``/quiz 5`` in a group; answer each question (10 players, seeded right/wrong) as it comes."""
    rng = np.random.default_rng(seed)
    start = top.update(message=top.fake.message(chat=top.fake.group_chat(GROUP),
                                                from_user=top.fake.user(PLAYERS[0][0], PLAYERS[0][1]),
                                                text=f"/quiz {QUESTIONS}"))
    quiz.start_update = start["update_id"]
    top.telegram.send(start)
    after = 0
    while len(quiz.polls) < QUESTIONS:
        rec = await top.fake.wait_for("sendPoll", lambda p: int(p["chat_id"]) == GROUP,
                                      timeout=WAIT_S, after=after)
        after = top.fake.requests.index(rec) + 1
        poll = rec.result["poll"]
        quiz.polls.append(poll)
        if quiz.round_id is None:
            running = await top.store.running_round("telegram", GROUP)
            quiz.round_id = running.id if running else None
        right = rec.params.get("correct_option_ids", rec.params.get("correct_option_id"))
        right = int(right[0] if isinstance(right, list) else right)
        for user_id, name in PLAYERS:
            is_right = bool(rng.random() < 0.6)
            wrong = [i for i in range(len(poll["options"])) if i != right]
            choice = right if is_right else int(rng.choice(wrong))
            update = top.update(poll_answer={
                "poll_id": poll["id"], "user": top.fake.user(user_id, name), "option_ids": [choice],
                "option_persistent_ids": [poll["options"][choice]["persistent_id"]]})
            quiz.answers.append((update["update_id"], user_id, is_right, poll["id"], choice))
            top.telegram.send(update)
        if len(quiz.polls) == 2:
            quiz.second_question.set()


def _photo_replies(fake: FakeTelegram) -> dict[tuple[int, int], int]:
    counts: dict[tuple[int, int], int] = {}
    for r in fake.requests:
        if delivered(r):
            key = reply_key(r.params)
            counts[key] = counts.get(key, 0) + 1
    return counts


async def _scenario(top: Topology, kill: str, photos: int, seed: int) -> None:
    """Photos and the quiz at once; SIGKILL ``kill`` ("other" or "owner" of the round) halfway."""
    jpegs = _jpegs(12, seed)
    quiz = Quiz()
    quiz_task = asyncio.create_task(_play_quiz(top, quiz, seed))
    sent: list[tuple[int, tuple[int, int]]] = []  # (update_id, (chat id, message id))

    async def send_photos() -> None:
        for i in range(photos):
            chat_id = 7_000_000 + seed * 10_000 + i  # each photo its own kid: the limit never applies
            msg = top.fake.message(chat=top.fake.private_chat(chat_id),
                                   photo=top.fake.photo_sizes(jpegs[i % len(jpegs)], 160, 120))
            update = top.update(message=msg)
            sent.append((update["update_id"], key_of(msg)))
            top.telegram.send(update)
            await asyncio.sleep(0.1)  # a steady 10 photos a second offered, like a busy afternoon

    photo_task = asyncio.create_task(send_photos())
    try:
        # The middle: the second question is out and a third of the photos answered.
        await asyncio.wait_for(quiz.second_question.wait(), WAIT_S)
        await poll_until("a third of the photos answered",
                         lambda: sum(1 for _, k in sent if _photo_replies(top.fake).get(k)) >= photos // 3,
                         WAIT_S, every=0.2)
        polls_at_kill = len(quiz.polls)
        assert len(sent) < photos, "the photos were all sent before the kill: not the middle"
        owners = top.proxy.acked_by(quiz.start_update)
        assert len(owners) == 1, f"/quiz acknowledged by {owners}"
        owner = owners.pop()
        victim = owner if kill == "owner" else 1 - owner
        await top.replicas[victim].kill()
        survivor = top.replicas[1 - victim]

        await asyncio.wait_for(photo_task, WAIT_S)
        await top.telegram.drain(WAIT_S)

        def lost_only_at_the_victim(update_id: int) -> bool:
            """The update reached the killed replica (acknowledged, or killed while it was sent)."""
            return any(d.backend == victim for d in top.proxy.deliveries.get(update_id, []))

        def photos_settled() -> bool:
            replies = _photo_replies(top.fake)
            return all(replies.get(k) for _u, k in sent)

        await poll_until("a reply to every photo", photos_settled, WAIT_S)
        if kill == "owner":  # the survivor must take the round over within a few open periods
            await poll_until("the next question from the surviving replica",
                             lambda: len(quiz.polls) > polls_at_kill or polls_at_kill == QUESTIONS,
                             3 * (OPEN_PERIOD_S + 3))
        await asyncio.wait_for(quiz_task, WAIT_S)
        assert quiz.round_id is not None

        async def finished() -> bool:
            rnd = await top.store.get_round(quiz.round_id)
            return rnd is not None and rnd.status == "finished"

        await poll_until("the quiz round to finish", finished, WAIT_S, every=0.5)
        last_poll = max(i for i, r in enumerate(top.fake.requests) if r.method == "sendPoll")
        summary = [r for r in top.fake.requests[last_poll:]
                   if r.method == "sendMessage" and int(r.params["chat_id"]) == GROUP]
        assert summary, "no reveal or summary after the last question"
        assert survivor.alive, survivor.log()[-3000:]

        # Photos: at most one reply each, two only where Telegram delivered the update again.
        replies = _photo_replies(top.fake)
        for update_id, key in sent:
            n = replies.get(key, 0)
            assert 1 <= n <= 2 and (n <= 1 or top.telegram.attempts_of[update_id] > 1), (update_id, n)
        print(f"\n{photos} photos: all answered; "
              f"{sum(1 for u, _ in sent if top.telegram.attempts_of[u] > 1)} delivered more than once, "
              f"{sum(1 for _u, k in sent if replies[k] == 2)} answered twice, "
              f"{sum(1 for u, _ in sent if lost_only_at_the_victim(u))} had reached the killed replica")

        # The first question closed while both replicas ran, the answers spread over both: every one
        # of them was stored (the round's replica stored its own, the other one through the database).
        first = await top.store.question_by_message("telegram", quiz.polls[0]["id"])
        given = [right for _u, _who, right, poll_id, _ in quiz.answers if poll_id == quiz.polls[0]["id"]]
        assert first is not None and first.closed
        assert {top.proxy.acked_by(u).pop() for u, *_rest in quiz.answers[:len(PLAYERS)]} == {0, 1}
        assert await top.store.answer_count(first.id) == len(given) == len(PLAYERS)
        assert await top.store.right_count(first.id) == sum(given)

        # Scores: between what only the survivor received and everything given; one answer a question.
        for user_id, _name in PLAYERS:
            mine = [(u, right) for u, who, right, *_ in quiz.answers if who == user_id]
            sure = [(u, right) for u, right in mine if not lost_only_at_the_victim(u)]
            row = await top.store.user_score("telegram", GROUP, user_id)
            got_answered = row.answered if row else 0
            got_right = row.correct if row else 0
            assert len(sure) <= got_answered <= len(mine) <= QUESTIONS, (user_id, got_answered, mine)
            assert sum(r for _, r in sure) <= got_right <= sum(r for _, r in mine), \
                await _explain(top, quiz, user_id, victim)
        assert await survivor.stop() == 0, survivor.log()[-3000:]  # SIGTERM: a clean stop
    finally:
        for task in (quiz_task, photo_task):
            task.cancel()
        await asyncio.gather(quiz_task, photo_task, return_exceptions=True)


async def _explain(top: Topology, quiz: Quiz, user_id: int, victim: int) -> str:
    """What was sent for ``user_id`` and what the database holds: the message of a failed assertion."""
    import asyncpg

    conn = await asyncpg.connect(top.db_url)
    try:
        rows = await conn.fetch(
            "SELECT q.idx, q.message_id, q.correct_index, q.closed, q.settled, q.closes_at, a.option, "
            "a.correct, a.answered_at FROM questions q LEFT JOIN answers a ON a.question_id = q.id "
            "AND a.user_id = $1 ORDER BY q.idx", str(user_id))
    finally:
        await conn.close()
    sent = [(poll, option, right, sorted(top.proxy.acked_by(u)), top.telegram.attempts_of[u])
            for u, who, right, poll, option in quiz.answers if who == user_id]
    return f"player {user_id} (victim {victim}): sent {sent}; stored {[dict(r) for r in rows]}"


async def test_two_replicas_survive_a_sigkill_of_the_one_not_running_the_quiz(topology: Topology) -> None:
    await _scenario(topology, kill="other", photos=300, seed=1)


async def test_the_quiz_finishes_after_a_sigkill_of_the_replica_running_it(topology: Topology) -> None:
    await _scenario(topology, kill="owner", photos=300, seed=2)


async def test_a_photo_the_killed_replica_was_handling_is_answered_by_the_other(topology: Topology) -> None:
    """A replica dies in the middle of a photo (its download is slow): Telegram re-delivers the update
    and the other replica answers it."""
    top = topology
    jpeg = _jpegs(1, seed=3)[0]
    sizes = top.fake.photo_sizes(jpeg, 160, 120)
    slow_file = sizes[-1]["file_id"]
    top.fake.delay("getFile", 10.0, match=lambda p: p.get("file_id") == slow_file)
    msg = top.fake.message(chat=top.fake.private_chat(7_900_001), photo=sizes)
    update = top.update(message=msg)
    top.telegram.send(update)
    await poll_until("the photo's download to start",
                     lambda: any(r.method == "getFile" and r.params.get("file_id") == slow_file
                                 for r in top.fake.requests), WAIT_S)
    (handling,) = set(top.proxy.forwarded[update["update_id"]])  # not answered yet: still handling
    await top.replicas[handling].kill()
    await top.fake.wait_for("sendMessage", lambda p: reply_key(p) == key_of(msg), timeout=30)
