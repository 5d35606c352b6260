"""Discord quiz rounds: ``/quiz start``, ``/quiz stop``, answer buttons, "Quiz the group!" photo rounds.

How a round runs (one per channel; the engine keeps the score per server):

1. ``/quiz start`` (or a "Quiz the group!" press) starts a round in the engine and answers the
   interaction with the first question: an embed with the numbered options and one button per option;
2. a task per round waits for the open period (``QUIZ_OPEN_PERIOD_S``), closes the question in the
   engine and edits the question message into the reveal (right answer, explanation, buttons disabled),
   then posts the next question, and the round summary at the end;
3. ``/quiz stop`` ends the round in the engine and wakes the task, which disables the buttons.

Buttons are :class:`discord.ui.DynamicItem` s registered on the client (``quiz:<question id>:<option>``
and ``quizphoto:<photo key>``), so a press is handled even after a restart, when no view is in memory:
the member gets a polite private "This quiz has ended" and the buttons are disabled, never Discord's
"This interaction failed". Answer feedback is private (ephemeral) and only says the answer was
recorded: the right answer is revealed for everybody when time is up.

Messages after the first go out as interaction follow-ups while the interaction token is valid
(15 minutes; works in servers, DMs and user installs without any channel permission), then through
the channel. Views holding dynamic items are never sent ephemerally and always have ``timeout=None``:
discord.py unregisters a view's dynamic item classes when that view times out or stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import discord

from bot.adapters.discord.render import (
    question_embed,
    reveal_embed,
    stopped_embed,
    text_embed,
)
from bot.core.quiz.engine import (
    PHOTO_GONE_TEXT,
    ChatRef,
    NoQuestions,
    QuizEngine,
    RoundAlreadyRunning,
    RoundQuestion,
)

log = logging.getLogger(__name__)

PLATFORM = "discord"
#: Pause between a reveal and the next question, so everyone can read the explanation.
REVEAL_PAUSE_S = 5.0
#: Interaction tokens live 15 minutes; after this the channel is used instead of follow-ups.
TOKEN_LIFETIME_S = 14 * 60

ANSWER_RECORDED_TEXT = "Got it! You picked {number}. I'll show the right answer when time is up. ⏳"
ALREADY_ANSWERED_TEXT = "You already answered this one. Only your first answer counts!"
TIME_UP_TEXT = "Time's up for this question! Get ready for the next one."
QUIZ_ENDED_TEXT = "This quiz has ended. Start a new one with /quiz start!"
QUESTION_CLOSED_TEXT = "This question is closed. Look for the newest question!"
NO_QUIZ_TEXT = "There's no quiz running in this channel. Start one with /quiz start!"
STOP_NOT_ALLOWED_TEXT = "Only the person who started this quiz (or a moderator) can stop it."
QUIZ_ERROR_TEXT = "Oops, something went wrong with the quiz, so I stopped it. Points already won are saved."
BUTTON_ERROR_TEXT = "Oops, something went wrong. Please try again!"
PHOTO_BUTTON_LABEL = "Quiz the group!"


def chat_ref(interaction: discord.Interaction) -> ChatRef:
    """The channel the round is played in; scores go to the server (in DMs: the channel)."""
    channel_id = interaction.channel_id or 0
    return ChatRef(PLATFORM, str(channel_id), scope_id=str(interaction.guild_id or channel_id))


def _runner(interaction: discord.Interaction) -> DiscordQuiz | None:
    return getattr(interaction.client, "quiz", None)


# ---------------------------------------------------------------------------------------------------
# Persistent buttons
# ---------------------------------------------------------------------------------------------------


ANSWER_TEMPLATE = r"quiz:(?P<qid>[0-9]{1,18}):(?P<opt>[0-9]{1,2})"
PHOTO_TEMPLATE = r"quizphoto:(?P<key>[A-Za-z0-9_-]{1,64})"


class AnswerButton(discord.ui.DynamicItem[discord.ui.Button], template=ANSWER_TEMPLATE):
    """One answer button: ``quiz:<question db id>:<0-based option>``, labelled with the option number."""

    def __init__(
        self,
        question_id: int,
        option: int,
        *,
        style: discord.ButtonStyle = discord.ButtonStyle.primary,
        disabled: bool = False,
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=str(option + 1),
                style=style,
                custom_id=f"quiz:{question_id}:{option}",
                disabled=disabled,
            )
        )
        self.question_id = question_id
        self.option = option

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> AnswerButton:
        return cls(int(match["qid"]), int(match["opt"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        runner = _runner(interaction)
        if runner is None:
            await _private(interaction, QUIZ_ENDED_TEXT)
            return
        await runner.guarded(interaction, runner.press_answer(interaction, self.question_id, self.option))


class PhotoQuizButton(discord.ui.DynamicItem[discord.ui.Button], template=PHOTO_TEMPLATE):
    """"Quiz the group!" under a confident identification: ``quizphoto:<engine photo key>``."""

    def __init__(self, key: str, *, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label=PHOTO_BUTTON_LABEL,
                emoji="🎯",
                style=discord.ButtonStyle.success,
                custom_id=f"quizphoto:{key}",
                disabled=disabled,
            )
        )
        self.key = key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> PhotoQuizButton:
        return cls(match["key"])

    async def callback(self, interaction: discord.Interaction) -> None:
        runner = _runner(interaction)
        if runner is None:
            await _private(interaction, PHOTO_GONE_TEXT)
            return
        await runner.guarded(interaction, runner.press_photo(interaction, self.key))


#: Register these on the client (``Client.add_dynamic_items``) so presses work after a restart.
DYNAMIC_ITEMS = (AnswerButton, PhotoQuizButton)


def answer_view(rq: RoundQuestion, *, closed: bool = False) -> discord.ui.View:
    """One button per option (1-4); when ``closed`` all are disabled and the right one is green."""
    return buttons_view(rq.question_id, len(rq.question.options), rq.question.correct_index, closed=closed)


def buttons_view(question_id: int, n_options: int, correct_index: int, *, closed: bool) -> discord.ui.View:
    """The answer buttons of question ``question_id`` (state database id): ``n_options`` buttons;
    when ``closed`` all are disabled and the one at ``correct_index`` (0-based) is green."""
    view = discord.ui.View(timeout=None)  # never times out: see the module docstring
    for i in range(n_options):
        style = discord.ButtonStyle.primary
        if closed:
            right = i == correct_index
            style = discord.ButtonStyle.success if right else discord.ButtonStyle.secondary
        view.add_item(AnswerButton(question_id, i, style=style, disabled=closed))
    return view


def photo_view(key: str) -> discord.ui.View:
    """The "Quiz the group!" button for an identification answer."""
    view = discord.ui.View(timeout=None)
    view.add_item(PhotoQuizButton(key))
    return view


async def _private(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral text answer, as the first response or as a follow-up."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


# ---------------------------------------------------------------------------------------------------
# Posting
# ---------------------------------------------------------------------------------------------------


class _Poster:
    """Sends and edits a round's messages: interaction follow-ups while the token is valid, else the
    channel (which needs the bot in the server with permission to post)."""

    def __init__(self, client: discord.Client, interaction: discord.Interaction, original_id: int) -> None:
        self.followup = interaction.followup
        self.interaction = interaction
        self.original_id = original_id
        self.started = time.monotonic()
        self.channel = client.get_partial_messageable(
            interaction.channel_id or 0, guild_id=interaction.guild_id
        )

    @property
    def _fresh(self) -> bool:
        return time.monotonic() - self.started < TOKEN_LIFETIME_S

    async def send(self, embed: discord.Embed, view: discord.ui.View | None = None) -> int:
        kwargs: dict[str, Any] = {"embed": embed}
        if view is not None:
            kwargs["view"] = view
        if self._fresh:
            msg = await self.followup.send(wait=True, **kwargs)
        else:
            msg = await self.channel.send(**kwargs)
        return msg.id

    async def edit(self, message_id: int, embed: discord.Embed, view: discord.ui.View | None) -> None:
        if self._fresh:
            if message_id == self.original_id:
                await self.interaction.edit_original_response(embed=embed, view=view)
            else:
                await self.followup.edit_message(message_id, embed=embed, view=view)
        else:
            await self.channel.get_partial_message(message_id).edit(embed=embed, view=view)


@dataclass(eq=False)
class _Round:
    chat: ChatRef
    round_id: int
    starter_id: int
    poster: _Poster | None = None
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


# ---------------------------------------------------------------------------------------------------
# Rounds
# ---------------------------------------------------------------------------------------------------


class DiscordQuiz:
    """Runs the quiz rounds of one Discord client.

    Args:
        client: the Discord client (for the channel fallback).
        engine: the shared quiz engine.
        open_period: seconds each question stays open.
        reveal_pause: seconds between a reveal and the next question.
    """

    def __init__(
        self,
        client: discord.Client,
        engine: QuizEngine,
        open_period: float,
        reveal_pause: float = REVEAL_PAUSE_S,
    ) -> None:
        self.client = client
        self.engine = engine
        self.open_period = float(open_period)
        self.reveal_pause = float(reveal_pause)
        self.rounds: dict[tuple[str, str], _Round] = {}

    # ------------------------------------------------------------------ commands
    async def start(self, interaction: discord.Interaction, questions: int, level: str) -> None:
        """``/quiz start`` — a round of ``questions`` questions at ``level`` in this channel."""
        chat = chat_ref(interaction)
        try:
            rq = await self.engine.start(chat, n=questions, difficulty=level)
        except (RoundAlreadyRunning, NoQuestions) as exc:
            await _private(interaction, str(exc))
            return
        await self._launch(interaction, chat, rq)

    async def stop(self, interaction: discord.Interaction) -> None:
        """``/quiz stop`` — end this channel's round; the summary is posted for everybody."""
        chat = chat_ref(interaction)
        if not self.engine.is_running(chat):
            await _private(interaction, NO_QUIZ_TEXT)
            return
        rnd = self.rounds.get(chat.key)
        if rnd is not None and not _may_stop(interaction, rnd):
            await _private(interaction, STOP_NOT_ALLOWED_TEXT)
            return
        summary = await self.engine.stop(chat)
        if rnd is not None:
            rnd.stop_event.set()
        if summary is None:  # finished in the meantime
            await _private(interaction, NO_QUIZ_TEXT)
            return
        await interaction.response.send_message(embed=text_embed(summary.text))

    async def leaderboard(self, interaction: discord.Interaction) -> None:
        """``/leaderboard`` — the server's top players (in a DM: this chat's)."""
        chat = chat_ref(interaction)
        text = await self.engine.leaderboard_text(PLATFORM, chat.scope_id)
        await interaction.response.send_message(embed=text_embed(text))

    async def score(self, interaction: discord.Interaction) -> None:
        """``/score`` — the member's own score here (private)."""
        chat = chat_ref(interaction)
        text = await self.engine.my_score_text(PLATFORM, chat.scope_id, interaction.user.id)
        await interaction.response.send_message(embed=text_embed(text, title="⭐ Your score"), ephemeral=True)

    # ------------------------------------------------------------------ buttons
    async def press_answer(self, interaction: discord.Interaction, question_id: int, option: int) -> None:
        """An answer button: record the member's first answer and confirm it privately."""
        chat = chat_ref(interaction)
        current = self.engine.current(chat)
        if current is None or current.question_id != question_id:
            await self._stale(interaction, QUIZ_ENDED_TEXT if current is None else QUESTION_CLOSED_TEXT)
            return
        user = interaction.user
        result = await self.engine.answer(chat, user.id, user.display_name, option)
        if result.accepted:
            text = ANSWER_RECORDED_TEXT.format(number=option + 1)
        elif result.reason == "duplicate":
            text = ALREADY_ANSWERED_TEXT
        elif result.reason == "closed":
            text = TIME_UP_TEXT
        elif result.reason == "no_round":
            text = QUIZ_ENDED_TEXT
        else:
            text = QUESTION_CLOSED_TEXT
        await _private(interaction, text)

    async def press_photo(self, interaction: discord.Interaction, key: str) -> None:
        """"Quiz the group!": a one-question round about the remembered photo, in this channel."""
        chat = chat_ref(interaction)
        try:
            rq = await self.engine.start_photo_round(chat, key)
        except KeyError:
            await self._stale(interaction, PHOTO_GONE_TEXT)
            return
        except (RoundAlreadyRunning, NoQuestions) as exc:
            await _private(interaction, str(exc))
            return
        await self._launch(interaction, chat, rq)

    async def guarded(self, interaction: discord.Interaction, work: Any) -> None:
        """Run a button's work; on failure log it and answer kindly (never "interaction failed")."""
        try:
            await work
        except Exception:
            log.exception("discord quiz button failed")
            with contextlib.suppress(discord.HTTPException):
                await _private(interaction, BUTTON_ERROR_TEXT)

    async def _stale(self, interaction: discord.Interaction, text: str) -> None:
        """A press on a button that no longer means anything: disable the message's buttons for
        everybody and tell the member privately."""
        if interaction.message is not None:
            view = discord.ui.View.from_message(interaction.message, timeout=None)
            for item in view.children:
                if isinstance(item, discord.ui.Button):
                    item.disabled = True
            view.stop()  # finished views are not stored: nothing in memory for this message
            try:
                await interaction.response.edit_message(view=view)
            except discord.HTTPException as exc:
                log.info("could not disable the buttons of an old quiz message (%s)", exc.status)
        await _private(interaction, text)

    # ------------------------------------------------------------------ the round task
    async def _launch(self, interaction: discord.Interaction, chat: ChatRef, rq: RoundQuestion) -> None:
        """Answer the interaction with the first question, then run the round in a task."""
        rnd = _Round(chat, rq.round_id, interaction.user.id)
        self.rounds[chat.key] = rnd
        closes_at = time.time() + self.open_period
        try:
            response = await interaction.response.send_message(
                embed=question_embed(rq.question, rq.number, rq.total, closes_at), view=answer_view(rq)
            )
            message_id = response.message_id
            if message_id is None:
                message_id = (await interaction.original_response()).id
        except BaseException:
            if self.rounds.get(chat.key) is rnd:
                del self.rounds[chat.key]
            await self.engine.stop(chat)
            raise
        rnd.poster = _Poster(self.client, interaction, message_id)
        rnd.task = asyncio.create_task(self._run(rnd, rq, message_id, closes_at),
                                       name=f"discord-quiz-{chat.chat_id}")

    def _alive(self, rnd: _Round) -> bool:
        current = self.engine.current(rnd.chat)
        return current is not None and current.round_id == rnd.round_id and not rnd.stop_event.is_set()

    async def _wait(self, rnd: _Round, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rnd.stop_event.wait(), timeout=max(0.0, delay))

    async def _edit(self, rnd: _Round, message_id: int, embed: discord.Embed, view: discord.ui.View) -> None:
        assert rnd.poster is not None
        try:
            await rnd.poster.edit(message_id, embed, view)
        except discord.HTTPException as exc:
            log.warning("discord quiz: could not edit question message (%s %s)", exc.status, exc.text)

    async def _run(self, rnd: _Round, rq: RoundQuestion, message_id: int, closes_at: float) -> None:
        chat, poster = rnd.chat, rnd.poster
        assert poster is not None
        revealed = False
        try:
            while True:
                await self.engine.question_posted(chat, message_id, closes_at, post_message_id=message_id)
                revealed = False
                await self._wait(rnd, closes_at - time.time())
                if not self._alive(rnd):
                    break
                reveal = await self.engine.close_question(chat)
                if reveal is not None:
                    await self._edit(rnd, message_id,
                                     reveal_embed(rq.question, rq.number, rq.total, reveal.text),
                                     answer_view(rq, closed=True))
                    revealed = True
                nxt = await self.engine.next_question(chat)
                if nxt is None:
                    summary = await self.engine.finish(chat)
                    if summary is not None:
                        await poster.send(text_embed(summary.text))
                    return
                await self._wait(rnd, self.reveal_pause)
                if not self._alive(rnd):
                    break
                rq = nxt
                closes_at = time.time() + self.open_period
                message_id = await poster.send(
                    question_embed(rq.question, rq.number, rq.total, closes_at), answer_view(rq)
                )
            # Stopped (by /quiz stop, or the round ended elsewhere): show the answer, disable the buttons.
            if not revealed:
                await self._edit(rnd, message_id, stopped_embed(rq.question, rq.number, rq.total),
                                 answer_view(rq, closed=True))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("discord quiz round in channel %s failed", chat.chat_id)
            if self._alive(rnd) and await self.engine.stop(chat) is not None:
                with contextlib.suppress(Exception):
                    await poster.send(text_embed(QUIZ_ERROR_TEXT, title="🛑 Quiz stopped"))
        finally:
            if self.rounds.get(chat.key) is rnd:
                del self.rounds[chat.key]

    async def close(self, timeout: float = 10.0) -> None:
        """Stop every round of this client (on shutdown, or before a reconnect with a new client): the
        engine must not keep rounds nobody drives. Each round task is woken and left to finish (it
        disables its buttons); it is not cancelled mid-way, which could cut a database call in two."""
        rounds = list(self.rounds.values())
        for rnd in rounds:
            rnd.stop_event.set()
        tasks = [r.task for r in rounds if r.task is not None and not r.task.done()]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
        for rnd in rounds:
            current = self.engine.current(rnd.chat)
            if current is not None and current.round_id == rnd.round_id:
                await self.engine.stop(rnd.chat)
        self.rounds.clear()

    async def wait_idle(self) -> None:
        """Wait until every round task has finished (tests)."""
        tasks = [r.task for r in self.rounds.values() if r.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _may_stop(interaction: discord.Interaction, rnd: _Round) -> bool:
    """The starter, anyone in a DM, or a member who may manage messages (a teacher or moderator)."""
    if interaction.guild_id is None or interaction.user.id == rnd.starter_id:
        return True
    return bool(interaction.permissions.manage_messages)
