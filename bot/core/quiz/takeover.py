"""Round leases and takeover (issue 13): a round's timer runs on one replica, which holds the round's
lease in the state database (:mod:`bot.state.leases` keeps the leases and plans); when that replica
dies, another takes the round over within one open period.

* A :class:`~bot.core.quiz.session.RoundSession` acquires its round's lease when it starts
  (:meth:`LeaseStore.start`, which also stores the round's plan: every question, and who started it).
* Its :class:`~bot.core.quiz.session.RoundSessions` renews the leases of its rounds every ``renew_s``
  (``QUIZ_LEASE_RENEW_S``, default 5 s); a lease lives ``ttl_s`` = 3 renewals (15 s). A replica whose
  renewal fails (another took the round) stops driving that round.
* The same periodic task scans for running rounds whose lease expired and takes each over
  (:func:`take_over`): the lease is acquired atomically (``INSERT ... ON CONFLICT DO UPDATE ... WHERE
  owner = me OR expires_at < now``, one statement on SQLite and PostgreSQL, so of two contenders exactly
  one wins), the round is loaded from the database, the question cut open is revealed where it was
  posted once its time has passed (or when it does), and the round goes on with the next question.
  Takeover happens at most ``ttl_s + renew_s`` (20 s) after the owner's last renewal, within one open
  period of the default ``QUIZ_OPEN_PERIOD_S=30``.
* At start-up, rounds cut off by a crash are closed as before, except those whose lease another replica
  still holds and may renew (:meth:`LeaseStore.startup_exclusions`): that replica drives them, or any
  replica takes them over once the lease expired. A round of a process of this host that is gone (the
  default ids), or of our own ``REPLICA_ID``, is closed at start-up as a single bot's after a crash.

The owner is a replica id, ``REPLICA_ID`` (default ``<hostname>-<pid>``, so a restarted process is a new
owner). Lease times are the replicas' clocks (Unix seconds): keep them in sync (NTP); a skew of a few
seconds only shortens or lengthens a takeover by as much.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.core.quiz.engine import ChatRef, RoundAlreadyRunning, RoundSummary, summary_text
from bot.core.quiz.questions import Question, question_from_json, question_to_json
from bot.core.quiz.session import STOP_NOT_ALLOWED_TEXT, Posted, StopRefused, may_stop
from bot.state.leases import RoundLeases
from bot.state.quiz import INTERRUPTED, STOPPED, Round
from bot.state.store import StateStore

if TYPE_CHECKING:
    from bot.core.quiz.session import QuizTransport, RoundSession, RoundSessions

log = logging.getLogger(__name__)

#: A lease lives this many renewal intervals.
TTL_RENEWALS = 3


def default_replica_id() -> str:
    """``<hostname>-<pid>``: unique per process, so a restarted process never mistakes a lease of its
    previous life for its own."""
    return f"{socket.gethostname()}-{os.getpid()}"


def replica_id(settings: Any) -> str:
    """``REPLICA_ID`` of ``settings``, or :func:`default_replica_id` when empty."""
    value = str(getattr(settings, "replica_id", "") or "").strip()
    return value or default_replica_id()


class LeaseStore(RoundLeases[Question]):
    """The round leases and plans of one replica (:class:`bot.state.leases.RoundLeases`), whose plans
    are quiz questions.

    Args:
        store: the opened state database (SQLite or PostgreSQL).
        owner: this replica's id (:func:`replica_id`).
        ttl_s: how long an acquired or renewed lease lives, seconds (3 renewal intervals).
        clock: Unix time (tests pass a clock they move).

    Raises:
        ValueError: ``ttl_s`` is not positive.
    """

    @classmethod
    def from_settings(
        cls, store: StateStore, settings: Any, clock: Callable[[], float] = time.time
    ) -> LeaseStore:
        """The leases of ``REPLICA_ID`` with a ttl of 3 x ``QUIZ_LEASE_RENEW_S``."""
        renew = float(getattr(settings, "quiz_lease_renew_s", 5.0))
        return cls(store, replica_id(settings), TTL_RENEWALS * renew, clock)

    def encode_question(self, question: Question) -> dict[str, Any]:
        """See :func:`bot.core.quiz.questions.question_to_json`."""
        return question_to_json(question)

    def decode_question(self, data: Any) -> Question:
        """See :func:`bot.core.quiz.questions.question_from_json`.

        Raises:
            KeyError, ValueError: not a stored question.
        """
        return question_from_json(data)

    async def startup_exclusions(self) -> list[int]:
        """The running rounds start-up must leave running: those whose lease another replica holds and
        may still renew. Every other running round is closed as cut off, as a single bot does after a
        crash: no lease; an expired lease (taken here first, atomically, so a replica taking the round
        over at this moment keeps it instead); our own ``REPLICA_ID`` (our previous life); or a process
        of this host that no longer exists (the default ids ``<hostname>-<pid>``)."""
        now = self.clock()
        keep: list[int] = []
        for lease in await self.running():
            if lease.owner == self.owner or _dead_here(lease.owner):
                continue
            if lease.expires_at < now and await self.acquire(lease.round_id):
                continue
            keep.append(lease.round_id)
        return keep


def _dead_here(owner: str) -> bool:
    """True when ``owner`` is a default id of this host (``<hostname>-<pid>``) whose process is gone."""
    host, _, pid = owner.rpartition("-")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (another user's process)
    return False


async def stop_elsewhere(
    leases: LeaseStore,
    chat: ChatRef,
    user_id: str | int,
    admin: bool | None = None,
    transport: QuizTransport | None = None,
) -> RoundSummary | None:
    """End ``chat``'s round that another replica drives, for ``user_id`` (``/quiz stop`` reached this
    replica): the starter (from the round's plan) or an admin (``admin``, else ``transport.is_admin``)
    may. Returns the summary, or ``None`` when no round runs there.

    Raises:
        StopRefused: ``user_id`` may not stop it.
    """
    store = leases.store
    rnd = await store.running_round(chat.platform, chat.chat_id)
    if rnd is None:
        return None
    plan = await leases.load_plan(rnd.id)
    if not await may_stop(plan.starter_id if plan is not None else None, user_id, admin, transport):
        raise StopRefused(STOP_NOT_ALLOWED_TEXT)
    if not await store.finish_round(rnd.id, STOPPED):
        return None
    results = tuple(await store.round_results(rnd.id))
    return RoundSummary(rnd.id, STOPPED, summary_text(results, STOPPED, rnd.n_questions), results)


async def take_over(sessions: RoundSessions) -> list[RoundSession]:
    """Continue every running round of ``sessions.platform`` whose lease expired (see the module
    docstring). Returns the sessions started; a round this replica cannot continue (no plan: started
    by an older version) is closed as ``interrupted``."""
    leases, engine = sessions.leases, sessions.engine
    assert leases is not None and sessions.resume is not None
    taken: list[RoundSession] = []
    for rnd in await leases.expired(sessions.platform):
        chat = ChatRef(rnd.platform, rnd.chat_id, rnd.scope_id)
        if sessions.get(chat) is not None or engine.is_running(chat):
            continue
        if not await leases.acquire(rnd.id):
            continue  # another replica was faster
        plan = await leases.load_plan(rnd.id)
        last = await leases.last_question(rnd.id)
        if plan is None or not plan.questions:
            await _close_unplanned(leases, rnd)
            continue
        transport = sessions.resume(rnd, last)
        if transport is None:
            await leases.release(rnd.id)
            continue
        players = await leases.players(rnd.id)
        try:
            if last is None or last.message_id is None:  # cut before its question was posted: post it
                first = await engine.adopt(chat, rnd, plan.questions, last.index if last else 0,
                                           last.id if last else None, open_=True, message_id=None)
                session = sessions.adopt(first, chat, transport, plan.starter_id)
            elif not last.closed:  # cut while open: reveal it where it was posted when its time is up
                first = await engine.adopt(chat, rnd, plan.questions, last.index, last.id, open_=True,
                                           message_id=last.message_id)
                posted = Posted(str(last.message_id), last.post_message_id, last.thread_id)
                session = sessions.adopt(first, chat, transport, plan.starter_id, posted=posted,
                                         closes_at=last.closes_at)
            else:  # cut between a reveal and the next question
                await engine.adopt(chat, rnd, plan.questions, last.index, last.id, open_=False,
                                   message_id=last.message_id)
                nxt = await engine.next_question(chat)
                if nxt is None:
                    summary = await engine.finish(chat)
                    await leases.release(rnd.id)
                    if summary is not None:
                        await transport.post_text(summary.text, "summary")
                    continue
                session = sessions.adopt(nxt, chat, transport, plan.starter_id)
        except RoundAlreadyRunning:
            continue
        session.players = players
        session.begin()
        taken.append(session)
        log.info("%s: took over a quiz round whose replica stopped renewing its lease", sessions.platform)
    return taken


async def _close_unplanned(leases: LeaseStore, rnd: Round) -> None:
    await leases.store.finish_round(rnd.id, INTERRUPTED)
    await leases.release(rnd.id)
    log.info("%s: closed a quiz round without a plan whose replica stopped renewing", rnd.platform)


__all__ = [
    "TTL_RENEWALS",
    "LeaseStore",
    "default_replica_id",
    "replica_id",
    "stop_elsewhere",
    "take_over",
]
