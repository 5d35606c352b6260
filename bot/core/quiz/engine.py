"""Quiz rounds for a chat, platform-neutral. Adapters render questions and collect answers.

:class:`bot.core.quiz.session.RoundSession` drives a round through this engine for every platform (the
adapters only supply a transport). A round, as the session drives it::

    rq = await engine.start(chat, n=5, difficulty="kids")     # RoundAlreadyRunning / NoQuestions
    while rq is not None:
        message_id = <post rq.question: Telegram quiz poll, Discord buttons, or format_question_text()>
        await engine.question_posted(chat, message_id, closes_at)
        ... await engine.answer(chat, user_id, name, option)  # or answer_by_message(platform, poll_id...)
        reveal = await engine.close_question(chat)           # time is up or everyone answered
        <post reveal.text>
        rq = await engine.next_question(chat)
    summary = await engine.finish(chat)                       # plain text in summary.text

``await engine.stop(chat)`` ends a round early. At start-up, ``await engine.close_cut_rounds()`` closes
rounds cut off by a restart and returns them (post :data:`INTERRUPTED_TEXT` where the platform allows it)
with the questions that were open: close each where it was posted (Telegram ``stopPoll``, Discord: edit
the message, buttons disabled) and show :func:`restart_reveal_text`.

Fair scoring (issue 15), the same on every platform because it lives here and in the state database:
an answer's points count only when its question closes (:meth:`QuizEngine.close_question`, the end of a
round, or the start-up after a restart), so ``/score``, ``/leaderboard``, ``/stats`` and the summary never
tell who is right while a question is open. Players with equal results share a place everywhere
(:func:`shared_ranks`): the summary, the leaderboard and ``/score``.

Photo rounds: after a confident identification the adapter calls :meth:`QuizEngine.remember_photo`
(it keeps only the platform's file id, at most :data:`PHOTO_MEMORY` per process, never the bytes) and
puts the returned key in its "Quiz the group!" button; pressing it calls
:meth:`QuizEngine.start_photo_round`.

Every text here is plain text (adapters escape it). The engine runs no timers: the round session tells
it when a question closes (:mod:`bot.core.quiz.session`).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from bot.core.metrics import count_quiz_answer
from bot.core.quiz.questions import (
    MAX_PROMPT_CHARS,
    Difficulty,
    Question,
    QuestionGenerator,
)
from bot.state.quiz import (
    FINISHED,
    STOPPED,
    AnswerResult,
    CutQuestion,
    Round,
    RoundAlreadyRunning,
    RoundScore,
    ScoreRow,
)
from bot.state.store import StateStore

__all__ = [
    "INTERRUPTED_TEXT",
    "ChatRef",
    "NoQuestions",
    "PhotoRef",
    "QuizEngine",
    "Reveal",
    "RoundAlreadyRunning",
    "RoundQuestion",
    "RoundSummary",
    "format_leaderboard",
    "format_question_text",
    "parse_text_answer",
    "restart_reveal_text",
    "shared_ranks",
]

#: Questions per round: default and allowed range.
DEFAULT_QUESTIONS = 5
MIN_QUESTIONS = 1
MAX_QUESTIONS = 20
#: Photos remembered per process for "Quiz the group!" (file ids only).
PHOTO_MEMORY = 100
#: Players listed in a round summary (everyone who scored, up to this many; the rest are counted).
SUMMARY_PLAYERS = 10

INTERRUPTED_TEXT = (
    "Sorry! I had to restart, so the quiz in this chat was stopped. "
    "Points already won are saved. You can start a new quiz any time!"
)
NO_QUESTIONS_TEXT = "Sorry, I couldn't make any quiz questions right now. Please try again later!"
ALREADY_RUNNING_TEXT = "A quiz is already running in this chat. Let's finish that one first!"
PHOTO_GONE_TEXT = "I don't remember that photo any more. Send it again and I'll make a new question!"
MEDALS = ("🥇", "🥈", "🥉")


class NoQuestions(Exception):
    """The species database could not provide any question for the request."""


@dataclass(frozen=True, slots=True)
class ChatRef:
    """Where a round is played.

    Attributes:
        platform: ``"telegram"``, ``"discord"`` or ``"terminal"``.
        chat_id: Telegram chat id, or Discord channel id.
        scope_id: whose leaderboard scores go to: the Telegram chat id, or the Discord server (guild) id.
            Defaults to ``chat_id``.
    """

    platform: str
    chat_id: str
    scope_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "chat_id", str(self.chat_id))
        object.__setattr__(self, "scope_id", str(self.scope_id) if self.scope_id else str(self.chat_id))

    @property
    def key(self) -> tuple[str, str]:
        return (self.platform, self.chat_id)


@dataclass(frozen=True, slots=True)
class RoundQuestion:
    """A question as asked in a round: ``index`` is 0-based, ``total`` the round's length."""

    round_id: int
    question_id: int
    index: int
    total: int
    question: Question

    @property
    def number(self) -> int:
        """1-based position in the round."""
        return self.index + 1

    @property
    def poll_text(self) -> str:
        """The prompt with "(2/5) " in front when it still fits Telegram's 300-character limit."""
        text = f"({self.number}/{self.total}) {self.question.prompt}"
        return text if self.total > 1 and len(text) <= MAX_PROMPT_CHARS else self.question.prompt


@dataclass(frozen=True, slots=True)
class Reveal:
    """What to post when a question closes.

    ``text``: the right answer, the explanation, and how many got it right (plain text).
    """

    question: Question
    text: str
    right: int
    answered: int


@dataclass(frozen=True, slots=True)
class RoundSummary:
    """The end of a round: ``status`` is ``finished`` or ``stopped``; ``text`` is plain text."""

    round_id: int
    status: str
    text: str
    results: tuple[RoundScore, ...]


@dataclass(frozen=True, slots=True)
class PhotoRef:
    """A photo the bot identified in a chat: the platform's file id only, never the bytes."""

    platform: str
    chat_id: str
    file_id: str
    scientific_name: str


@dataclass(slots=True)
class _Active:
    chat: ChatRef
    round: Round
    questions: list[Question]
    index: int = 0
    question_id: int = 0
    open: bool = True
    message_id: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def current(self) -> RoundQuestion:
        return RoundQuestion(self.round.id, self.question_id, self.index, len(self.questions),
                             self.questions[self.index])


class QuizEngine:
    """Coordinates quiz rounds: one running round per chat, scores in the state database.

    Args:
        generator: question generator over the species database.
        store: the opened state database.
        photo_memory: how many photos :meth:`remember_photo` keeps (oldest are forgotten first).
    """

    def __init__(
        self,
        generator: QuestionGenerator,
        store: StateStore,
        photo_memory: int = PHOTO_MEMORY,
    ) -> None:
        self.generator = generator
        self.store = store
        self._active: dict[tuple[str, str], _Active] = {}
        self._by_message: dict[tuple[str, str], tuple[str, str]] = {}
        self._start_lock = asyncio.Lock()
        self._photos: OrderedDict[str, PhotoRef] = OrderedDict()
        self._photo_memory = max(1, int(photo_memory))
        #: The :class:`bot.core.quiz.session.RoundSessions` of each platform in this process, newest
        #: first registered by their constructor (the terminal keeps its rounds here between lines).
        self.sessions: dict[str, Any] = {}
        self._notices_rounds: list[Round] = []
        self._notices_cut: list[CutQuestion] = []

    # -- lifecycle ---------------------------------------------------------------------------------

    async def startup(self) -> list[Round]:
        """Close rounds cut off by a restart (marked ``interrupted``) and return them.

        Call once before the adapters start. For each returned round, post :data:`INTERRUPTED_TEXT` to
        ``round.chat_id`` where the platform allows it.
        """
        return (await self.close_cut_rounds())[0]

    async def close_cut_rounds(self, exclude: Collection[int] = ()) -> tuple[list[Round], list[CutQuestion]]:
        """Close rounds cut off by a restart (``interrupted``) and their open questions, whose answers
        are settled (they count: they were given in time). Returns the rounds and the cut questions; for
        each question, close its message where it was posted and show :func:`restart_reveal_text`.

        ``exclude``: ids of rounds another replica still drives
        (:meth:`bot.state.leases.RoundLeases.held_elsewhere`).
        Call once before the adapters start. Each platform's adapter takes its rounds and questions
        once with :meth:`take_restart_notices` to tell those chats.
        """
        rounds, cut = await self.store.close_cut_rounds(exclude=exclude)
        self._notices_rounds.extend(rounds)
        self._notices_cut.extend(cut)
        return rounds, cut

    def take_restart_notices(self, platform: str) -> tuple[list[Round], list[CutQuestion]]:
        """The rounds of ``platform`` cut by the last stop and their open questions, handed out once per
        engine (process): a second call, e.g. by a reconnecting client, gets ``([], [])``."""
        rounds = [r for r in self._notices_rounds if r.platform == platform]
        cut = [q for q in self._notices_cut if q.platform == platform]
        self._notices_rounds[:] = [r for r in self._notices_rounds if r.platform != platform]
        self._notices_cut[:] = [q for q in self._notices_cut if q.platform != platform]
        return rounds, cut

    def pending_restart_notices(self, platform: str) -> tuple[list[Round], list[CutQuestion]]:
        """What :meth:`take_restart_notices` would hand out now, without taking it."""
        return ([r for r in self._notices_rounds if r.platform == platform],
                [q for q in self._notices_cut if q.platform == platform])

    def plan(self, chat: ChatRef) -> list[Question]:
        """Every question of ``chat``'s running round, in order (``[]`` without a round): stored at the
        round's start so that another replica can continue it."""
        active = self._active.get(chat.key)
        return list(active.questions) if active else []

    async def adopt(
        self,
        chat: ChatRef,
        rnd: Round,
        questions: list[Question],
        index: int,
        question_id: int | None,
        *,
        open_: bool,
        message_id: str | None,
    ) -> RoundQuestion:
        """Drive a round another replica started (taken over from its expired lease): ``questions`` is
        its plan, ``index`` the question asked last (``question_id``, ``None``: not recorded yet, then it
        is recorded now), ``open_`` whether it is still open and ``message_id`` where answers to it come
        from. Returns that question.

        Raises:
            RoundAlreadyRunning: this process already runs a round in ``chat``.
        """
        async with self._start_lock:
            if chat.key in self._active:
                raise RoundAlreadyRunning(ALREADY_RUNNING_TEXT)
            active = _Active(chat, rnd, questions, index=index, open=open_)
            active.question_id = question_id if question_id is not None else await self._record(active)
            if message_id is not None:
                active.message_id = str(message_id)
                self._by_message[(chat.platform, active.message_id)] = chat.key
            self._active[chat.key] = active
        return active.current()

    def forget(self, chat: ChatRef) -> None:
        """Forget ``chat``'s round in this process without ending it in the database (another replica
        drives it now)."""
        active = self._active.pop(chat.key, None)
        if active is not None and active.message_id is not None:
            self._by_message.pop((chat.platform, active.message_id), None)

    def is_running(self, chat: ChatRef) -> bool:
        """True while ``chat`` has a round in progress."""
        return chat.key in self._active

    def current(self, chat: ChatRef) -> RoundQuestion | None:
        """The question being asked in ``chat`` (open or just closed), or ``None``."""
        active = self._active.get(chat.key)
        return active.current() if active else None

    async def start(
        self, chat: ChatRef, n: int = DEFAULT_QUESTIONS, difficulty: Difficulty | str = Difficulty.KIDS
    ) -> RoundQuestion:
        """Start a round of ``n`` (1-20) questions in ``chat``; returns the first question.

        Raises:
            RoundAlreadyRunning: ``chat`` already has a running round (text: :data:`ALREADY_RUNNING_TEXT`).
            NoQuestions: the database has nothing to ask (text: :data:`NO_QUESTIONS_TEXT`).
        """
        difficulty = Difficulty(difficulty)
        n = max(MIN_QUESTIONS, min(int(n), MAX_QUESTIONS))
        if chat.key in self._active:
            raise RoundAlreadyRunning(ALREADY_RUNNING_TEXT)
        questions = self.generator.round(n, difficulty)
        if not questions:
            raise NoQuestions(NO_QUESTIONS_TEXT)
        return await self._begin(chat, questions, difficulty)

    async def start_photo_round(
        self, chat: ChatRef, photo_key: str, difficulty: Difficulty | str = Difficulty.KIDS
    ) -> RoundQuestion:
        """Start a one-question round "What reptile is in this photo?" from a remembered photo.

        Raises:
            KeyError: the photo is unknown, forgotten, or from another chat (text: :data:`PHOTO_GONE_TEXT`).
            RoundAlreadyRunning, NoQuestions: as for :meth:`start`.
        """
        difficulty = Difficulty(difficulty)
        if chat.key in self._active:
            raise RoundAlreadyRunning(ALREADY_RUNNING_TEXT)
        question = self.photo_question(chat.platform, chat.chat_id, photo_key, difficulty)
        if question is None:
            if self._photo(chat.platform, chat.chat_id, photo_key) is None:
                raise KeyError(PHOTO_GONE_TEXT)
            raise NoQuestions(NO_QUESTIONS_TEXT)
        return await self._begin(chat, [question], difficulty)

    async def _begin(self, chat: ChatRef, questions: list[Question], difficulty: Difficulty) -> RoundQuestion:
        async with self._start_lock:
            if chat.key in self._active:
                raise RoundAlreadyRunning(ALREADY_RUNNING_TEXT)
            rnd = await self.store.start_round(
                chat.platform, chat.chat_id, chat.scope_id, len(questions), difficulty.value
            )
            active = _Active(chat, rnd, questions)
            active.question_id = await self._record(active)
            self._active[chat.key] = active
        return active.current()

    async def _record(self, active: _Active) -> int:
        q = active.questions[active.index]
        return await self.store.record_question(
            active.round.id, active.index, q.kind.value, q.scientific_name, len(q.options), q.correct_index,
            answer_text=q.correct_option, explanation=q.explanation, prompt=q.prompt,
        )

    async def question_posted(
        self,
        chat: ChatRef,
        message_id: str | int,
        closes_at: float | None = None,
        post_message_id: str | int | None = None,
        thread_id: str | int | None = None,
    ) -> None:
        """Tell the engine the current question was posted as ``message_id`` (Telegram: the *poll id*
        from ``message.poll.id``, used by :meth:`answer_by_message`; Discord: the message id).

        ``closes_at`` (Unix time): answers after it are refused even if the adapter is late to close.
        ``post_message_id`` (Telegram: the poll's ``message_id``; Discord: the message id) and
        ``thread_id`` (a Telegram forum topic) are stored so that a restart can close the question
        where it was posted.
        """
        active = self._active.get(chat.key)
        if active is None:
            return
        mid = str(message_id)
        if active.message_id is not None:
            self._by_message.pop((chat.platform, active.message_id), None)
        active.message_id = mid
        self._by_message[(chat.platform, mid)] = chat.key
        await self.store.set_question_message(active.question_id, mid, closes_at,
                                              post_message_id=post_message_id, thread_id=thread_id)

    # -- answers -----------------------------------------------------------------------------------

    async def answer(self, chat: ChatRef, user_id: str | int, display_name: str, option: int) -> AnswerResult:
        """Record ``user_id``'s answer (0-based ``option``) to the current question of ``chat``.

        Only the first answer of each user counts. Refused (``accepted=False``) when no question is
        open (``reason="no_round"``/``"closed"``), for a second answer (``"duplicate"``) or a bad option.
        """
        active = self._active.get(chat.key)
        if active is None:
            result = AnswerResult(False, reason="no_round")
        elif not active.open:
            result = AnswerResult(False, reason="closed")
        else:
            result = await self.store.record_answer(active.question_id, user_id, display_name, option)
        count_quiz_answer(result.accepted, result.correct)
        return result

    async def answer_by_message(
        self, platform: str, message_id: str | int, user_id: str | int, display_name: str, option: int
    ) -> tuple[ChatRef | None, AnswerResult]:
        """Record an answer given to a posted question (Telegram ``poll_answer`` carries only the poll id).

        Returns the chat it belongs to (``None`` when unknown) and the result. Answers to a question
        that is no longer the current one are refused.

        A question this process does not know may belong to a round that another replica runs (several
        webhook workers share the state database): it is looked up there and the answer is stored
        directly, with the same checks (open, in time, first answer only); it counts when that replica
        closes the question.
        """
        key = self._by_message.get((platform, str(message_id)))
        active = self._active.get(key) if key else None
        if active is None:
            asked = await self.store.question_by_message(platform, message_id)
            if asked is None or asked.closed:
                return None, AnswerResult(False, reason="unknown_question")
            result = await self.store.record_answer(asked.id, user_id, display_name, option)
            count_quiz_answer(result.accepted, result.correct)
            return ChatRef(platform, asked.chat_id, asked.scope_id), result
        if active.message_id != str(message_id):
            return None, AnswerResult(False, reason="unknown_question")
        return active.chat, await self.answer(active.chat, user_id, display_name, option)

    async def answer_count(self, chat: ChatRef) -> int:
        """How many players answered the current question (to close early when everyone has)."""
        active = self._active.get(chat.key)
        return await self.store.answer_count(active.question_id) if active else 0

    # -- closing -----------------------------------------------------------------------------------

    async def close_question(self, chat: ChatRef) -> Reveal | None:
        """Close the current question (time is up, or everyone answered) and return its reveal.

        Idempotent: returns ``None`` when there is no open question (e.g. a timer and "everyone
        answered" both fire).
        """
        active = self._active.get(chat.key)
        if active is None:
            return None
        async with active.lock:
            if not active.open:
                return None
            active.open = False
            await self.store.close_question(active.question_id)
            results = await self._question_results(active.question_id)
        q = active.questions[active.index]
        return Reveal(q, reveal_text(q, *results), *results)

    async def _question_results(self, question_id: int) -> tuple[int, int]:
        """(right answers, all answers) for one question."""
        return await self.store.right_count(question_id), await self.store.answer_count(question_id)

    async def next_question(self, chat: ChatRef) -> RoundQuestion | None:
        """Move to the next question (closing the current one first if still open, without a reveal).

        Returns ``None`` when the round has no more questions: then call :meth:`finish`.
        """
        active = self._active.get(chat.key)
        if active is None:
            return None
        async with active.lock:
            if active.open:
                active.open = False
                await self.store.close_question(active.question_id)
            if active.index + 1 >= len(active.questions):
                return None
            if active.message_id is not None:
                self._by_message.pop((chat.platform, active.message_id), None)
            active.index += 1
            active.message_id = None
            active.question_id = await self._record(active)
            active.open = True
            return active.current()

    async def finish(self, chat: ChatRef) -> RoundSummary | None:
        """End the round normally; returns the summary (top scorers of the round), or ``None``."""
        return await self._end(chat, FINISHED)

    async def stop(self, chat: ChatRef) -> RoundSummary | None:
        """End the round early (e.g. a stop command); points already won are kept."""
        return await self._end(chat, STOPPED)

    async def _end(self, chat: ChatRef, status: str) -> RoundSummary | None:
        active = self._active.pop(chat.key, None)
        if active is None:
            return None
        async with active.lock:
            active.open = False
            if active.message_id is not None:
                self._by_message.pop((chat.platform, active.message_id), None)
            await self.store.finish_round(active.round.id, status)
            results = tuple(await self.store.round_results(active.round.id))
        return RoundSummary(active.round.id, status, summary_text(results, status, len(active.questions)),
                            results)

    # -- scores ------------------------------------------------------------------------------------

    async def leaderboard(self, platform: str, scope_id: str | int, limit: int = 10) -> list[ScoreRow]:
        """Top players of a Telegram chat / Discord server (default top 10)."""
        return await self.store.leaderboard(platform, scope_id, limit)

    async def leaderboard_text(self, platform: str, scope_id: str | int, limit: int = 10) -> str:
        """The leaderboard as plain text."""
        return format_leaderboard(await self.leaderboard(platform, scope_id, limit))

    async def my_score_text(self, platform: str, scope_id: str | int, user_id: str | int) -> str:
        """A user's own score as plain text; ``number N here`` is shared by everyone with as many points.
        An open question's answer is not counted yet (it is when the question closes)."""
        row = await self.store.user_score(platform, scope_id, user_id)
        if row is None:
            return "You haven't answered any quiz questions here yet. Join the next quiz!"
        return (
            f"{row.display_name}: {row.points} {_plural(row.points, 'point')} "
            f"({row.correct} of {row.answered} right), number {row.rank} here."
        )

    async def forget_user(self, platform: str, user_id: str | int) -> int:
        """Delete a user's scores and answers on ``platform`` (privacy request)."""
        return await self.store.forget_user(platform, user_id)

    async def log_identification(
        self, platform: str, chat_id: str | int, scientific_name: str, confidence: float
    ) -> None:
        """Log an identification (hashed chat id, no photo). ``confidence`` in [0, 1]."""
        await self.store.log_identification(platform, chat_id, scientific_name, confidence)

    # -- photos ------------------------------------------------------------------------------------

    def remember_photo(self, platform: str, chat_id: str | int, file_id: str, scientific_name: str) -> str:
        """Remember a confidently identified photo for "Quiz the group!"; returns its key.

        The key is 8 URL-safe characters, short enough for Telegram ``callback_data`` (1-64 bytes) and a
        Discord ``custom_id`` (up to 100 characters). Only the file id is kept, in memory, and only the
        last :data:`PHOTO_MEMORY` photos of this process.
        """
        key = secrets.token_urlsafe(6)
        while key in self._photos:
            key = secrets.token_urlsafe(6)
        self._photos[key] = PhotoRef(platform, str(chat_id), str(file_id), scientific_name)
        while len(self._photos) > self._photo_memory:
            self._photos.popitem(last=False)
        return key

    def _photo(self, platform: str, chat_id: str | int, key: str) -> PhotoRef | None:
        ref = self._photos.get(key)
        if ref is None or ref.platform != platform or ref.chat_id != str(chat_id):
            return None  # a photo can only be quizzed in the chat it was sent to
        return ref

    def photo_question(
        self,
        platform: str,
        chat_id: str | int,
        photo_key: str,
        difficulty: Difficulty | str = Difficulty.KIDS,
    ) -> Question | None:
        """"What reptile is in this photo?" for a remembered photo of this chat, or ``None``."""
        ref = self._photo(platform, chat_id, photo_key)
        if ref is None:
            return None
        return self.generator.photo_question(ref.scientific_name, ref.file_id, difficulty)


# ---------------------------------------------------------------------------------------------------
# Plain-text helpers
# ---------------------------------------------------------------------------------------------------

_LETTERS = "abcdefghijkl"


def format_question_text(question: Question, number: int | None = None, total: int | None = None) -> str:
    """A question as plain text with numbered options (terminal chat, or a Discord message body)::

        Question 2 of 5: What does the Green iguana eat?
        1. Plant-eater
        2. Meat-eater
        3. Eats both plants and animals
    """
    head = question.prompt
    if number is not None and total:
        head = f"Question {number} of {total}: {head}"
    elif number is not None:
        head = f"Question {number}: {head}"
    if question.photo_file_id:
        head = "📷 " + head
    lines = [head]
    lines += [f"{i}. {opt}" for i, opt in enumerate(question.options, start=1)]
    return "\n".join(lines)


def parse_text_answer(question: Question, text: str) -> int | None:
    """A typed answer as a 0-based option index: ``"2"``, ``"b"`` or the option's text; else ``None``."""
    t = " ".join(text.split()).strip().strip(".").casefold()
    if not t:
        return None
    if re.fullmatch(r"\d{1,2}", t):
        i = int(t) - 1
        return i if 0 <= i < len(question.options) else None
    if len(t) == 1 and t in _LETTERS[: len(question.options)]:
        return _LETTERS.index(t)
    for i, opt in enumerate(question.options):
        if opt.casefold() == t:
            return i
    return None


def reveal_text(question: Question, right: int, answered: int) -> str:
    """The right answer, the explanation, and the count of right answers (plain text)."""
    lines = [f"✅ The answer is: {question.correct_option}", question.explanation]
    if answered == 0:
        lines.append("Nobody answered this one.")
    elif right == answered:
        lines.append("Everybody got it right! 🎉" if answered > 1 else "You got it right! 🎉")
    else:
        lines.append(f"{right} of {answered} got it right.")
    return "\n".join(line for line in lines if line)


def shared_ranks(values: list[int] | tuple[int, ...]) -> list[int]:
    """Competition ranks ("1224") for ``values`` sorted best (highest) first: equal values share the
    place of the first of them. E.g. ``[3, 1, 1, 1, 0]`` -> ``[1, 2, 2, 2, 5]``.

    Raises:
        ValueError: when ``values`` is not sorted from highest to lowest.
    """
    ranks: list[int] = []
    for i, v in enumerate(values):
        if i and v > values[i - 1]:
            raise ValueError("values must be sorted from highest to lowest")
        ranks.append(ranks[-1] if i and v == values[i - 1] else i + 1)
    return ranks


def _place(rank: int) -> str:
    return MEDALS[rank - 1] if rank <= len(MEDALS) else f"{rank}."


def summary_text(results: tuple[RoundScore, ...] | list[RoundScore], status: str, total: int) -> str:
    """The round's scorers as plain text: everyone with at least one right answer, best first, up to
    :data:`SUMMARY_PLAYERS`, then how many more scored. Players with as many right answers share a
    place (🥈 for all of them), listed by name."""
    head = "🏁 That's the end of the quiz!" if status == FINISHED else "🛑 Quiz stopped."
    if not results:
        return f"{head}\nNobody answered this time. Maybe next time!"
    scorers = sorted((r for r in results if r.correct > 0),
                     key=lambda r: (-r.correct, r.display_name.casefold(), r.user_id))
    if not scorers:
        return (f"{head}\nNobody got one right this time, but every answer teaches us something. "
                "Try again! 🦎")
    ranks = shared_ranks([r.correct for r in scorers])
    lines = [head, "Top scorers:"]
    for rank, r in list(zip(ranks, scorers, strict=True))[:SUMMARY_PLAYERS]:
        lines.append(f"{_place(rank)} {r.display_name}: {r.correct} of {total} right")
    more = len(scorers) - SUMMARY_PLAYERS
    if more > 0:
        lines.append(f"…and {more} more {'player' if more == 1 else 'players'} scored too!")
    lines.append("Well done, everyone! Every answer teaches us something about reptiles. 🦎")
    return "\n".join(lines)


def format_leaderboard(rows: list[ScoreRow]) -> str:
    """A leaderboard as plain text: players with points only, ranks shared by equal points."""
    rows = [r for r in rows if r.points > 0]
    if not rows:
        return "No scores yet. Start a quiz to get on the leaderboard!"
    lines = ["🏆 Leaderboard"]
    for r in rows:
        lines.append(f"{_place(r.rank)} {r.display_name}: {r.points} {_plural(r.points, 'point')}")
    return "\n".join(lines)


RESTART_STOPPED_TEXT = "⏹ The quiz was stopped by a restart."


def restart_reveal_text(cut: CutQuestion) -> str:
    """What a question cut by a restart shows where it was posted: the stop, the answer and its
    explanation (plain text). Its answers were counted at start-up."""
    lines = [RESTART_STOPPED_TEXT]
    if cut.answer_text:
        lines.append(f"✅ The answer is: {cut.answer_text}")
    if cut.explanation:
        lines.append(cut.explanation)
    return "\n".join(lines)


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"
