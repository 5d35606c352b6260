"""Discord quiz rounds: ``/quiz start``, ``/quiz stop``, answer buttons, "Quiz the group!" photo rounds.

How a round runs (one per channel; the engine keeps the score per server): the core's
:class:`~bot.core.quiz.session.RoundSession` runs it, with a :class:`DiscordTransport` that

1. answers the ``/quiz start`` (or "Quiz the group!") interaction with the first question: an embed with
   the numbered options and one button per option; later questions are follow-ups;
2. edits the question message into the reveal (right answer, explanation, buttons disabled, right one
   green) when the question closes (time is up, or everyone playing answered);
3. edits it into "stopped" when the round is stopped (``/quiz stop``: the starter or a member who may
   manage messages) or the client closes.

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
    Reveal,
    RoundAlreadyRunning,
    RoundQuestion,
)
from bot.core.quiz.session import (
    STOP_NOT_ALLOWED_TEXT,
    Posted,
    RoundConfig,
    RoundSession,
    RoundSessions,
    StopRefused,
    TextKind,
    round_config,
)
from bot.core.quiz.takeover import LeaseStore
from bot.state.quiz import AskedQuestion, Round

log = logging.getLogger(__name__)

PLATFORM = "discord"
#: Interaction tokens live 15 minutes; after this the channel is used instead of follow-ups.
TOKEN_LIFETIME_S = 14 * 60

ANSWER_RECORDED_TEXT = "Got it! You picked {number}. I'll show the right answer when time is up. ⏳"
ALREADY_ANSWERED_TEXT = "You already answered this one. Only your first answer counts!"
TIME_UP_TEXT = "Time's up for this question! Get ready for the next one."
QUIZ_ENDED_TEXT = "This quiz has ended. Start a new one with /quiz start!"
QUESTION_CLOSED_TEXT = "This question is closed. Look for the newest question!"
NO_QUIZ_TEXT = "There's no quiz running in this channel. Start one with /quiz start!"
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


class _ChannelPoster:
    """Sends and edits a round's messages through the channel only (a round taken over from another
    replica has no interaction token)."""

    def __init__(self, client: discord.Client, channel_id: int, guild_id: int | None) -> None:
        self.channel = client.get_partial_messageable(channel_id, guild_id=guild_id)

    async def send(self, embed: discord.Embed, view: discord.ui.View | None = None) -> int:
        msg = await (self.channel.send(embed=embed, view=view) if view is not None
                     else self.channel.send(embed=embed))
        return msg.id

    async def edit(self, message_id: int, embed: discord.Embed, view: discord.ui.View | None) -> None:
        await self.channel.get_partial_message(message_id).edit(embed=embed, view=view)


class DiscordTransport:
    """One channel's round on Discord (see :class:`bot.core.quiz.session.QuizTransport`): the first
    question answers ``interaction``; the rest go out through :class:`_Poster` (or, for a round taken
    over from another replica, ``poster``: the channel)."""

    def __init__(self, client: discord.Client, interaction: discord.Interaction | None,
                 poster: _Poster | _ChannelPoster | None = None) -> None:
        self.client = client
        self.interaction = interaction
        self.poster = poster

    def known_players(self) -> int | None:
        return None  # a channel (even a DM of a user install) may have several members

    async def post_question(self, rq: RoundQuestion, closes_at: float | None) -> Posted:
        embed = question_embed(rq.question, rq.number, rq.total, closes_at or time.time())
        if self.poster is None:
            assert self.interaction is not None
            response = await self.interaction.response.send_message(embed=embed, view=answer_view(rq))
            message_id = response.message_id
            if message_id is None:
                message_id = (await self.interaction.original_response()).id
            self.poster = _Poster(self.client, self.interaction, int(message_id))
        else:
            message_id = await self.poster.send(embed, answer_view(rq))
        return Posted(str(message_id), str(message_id))

    async def close_early(self, rq: RoundQuestion, posted: Posted) -> None:
        return None  # the reveal disables the buttons

    async def show_reveal(self, rq: RoundQuestion, posted: Posted, reveal: Reveal) -> None:
        await self._edit(int(posted.message_id), reveal_embed(rq.question, rq.number, rq.total, reveal.text),
                         answer_view(rq, closed=True))

    async def show_stopped(self, rq: RoundQuestion, posted: Posted) -> None:
        await self._edit(int(posted.message_id), stopped_embed(rq.question, rq.number, rq.total),
                         answer_view(rq, closed=True))

    async def post_text(self, text: str, kind: TextKind) -> None:
        if self.poster is None:
            return  # nothing was posted: the interaction answers the error itself
        if kind == "error":
            await self.poster.send(text_embed(QUIZ_ERROR_TEXT, title="🛑 Quiz stopped"))
        else:
            await self.poster.send(text_embed(text))

    async def is_admin(self, user_id: str) -> bool:
        return False  # decided from the stopping interaction's permissions (:func:`may_stop_as_admin`)

    async def _edit(self, message_id: int, embed: discord.Embed, view: discord.ui.View) -> None:
        assert self.poster is not None
        try:
            await self.poster.edit(message_id, embed, view)
        except discord.HTTPException as exc:
            log.warning("discord quiz: could not edit question message (%s %s)", exc.status, exc.text)


# ---------------------------------------------------------------------------------------------------
# Rounds
# ---------------------------------------------------------------------------------------------------


class DiscordQuiz:
    """The quiz commands and buttons of one Discord client; the rounds run in the core's sessions.

    Args:
        client: the Discord client (for the channel fallback).
        engine: the shared quiz engine.
        config: how rounds run (:func:`bot.core.quiz.session.round_config` of the settings).
    """

    def __init__(self, client: discord.Client, engine: QuizEngine, config: RoundConfig,
                 leases: LeaseStore | None = None) -> None:
        self.client = client
        self.engine = engine
        self.sessions = RoundSessions(engine, PLATFORM, config, leases=leases, resume=self._resume)
        self.sessions.owner = self

    @classmethod
    def from_settings(cls, client: discord.Client, engine: QuizEngine, settings: Any,
                      leases: LeaseStore | None = None) -> DiscordQuiz:
        """A :class:`DiscordQuiz` with the settings' :class:`~bot.core.quiz.session.RoundConfig`."""
        return cls(client, engine, round_config(settings), leases)

    def _resume(self, rnd: Round, last: AskedQuestion | None) -> DiscordTransport | None:
        """The transport of a round taken over from another replica: its channel (no interaction).
        Only for servers this client's shards serve (or DMs on shard 0), so a sharded bot keeps a
        server's quiz on the shard that owns it."""
        guild_id = int(rnd.scope_id) if rnd.scope_id != rnd.chat_id else None
        shard_ids = getattr(self.client, "shard_ids", None)
        shard_count = getattr(self.client, "shard_count", None)
        if shard_ids and shard_count:
            shard = (guild_id >> 22) % shard_count if guild_id else 0
            if shard not in shard_ids:
                return None
        poster = _ChannelPoster(self.client, int(rnd.chat_id), guild_id)
        return DiscordTransport(self.client, None, poster)

    @property
    def open_period(self) -> float:
        """Seconds each question stays open."""
        return float(self.sessions.config.open_period_s or 0)

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
        """``/quiz stop`` — end this channel's round (the starter or a moderator); the summary is posted
        for everybody."""
        chat = chat_ref(interaction)
        try:
            summary = await self.sessions.stop(chat, interaction.user.id,
                                               admin=may_stop_as_admin(interaction))
        except StopRefused:
            await _private(interaction, STOP_NOT_ALLOWED_TEXT)
            return
        if summary is None:
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
        result = await self.sessions.answer(chat, user.id, user.display_name, option)
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

    # ------------------------------------------------------------------ the round
    async def _launch(
        self, interaction: discord.Interaction, chat: ChatRef, rq: RoundQuestion
    ) -> RoundSession:
        """Run the round; returns once the first question answered the interaction (or the round ended)."""
        transport = DiscordTransport(self.client, interaction)
        session = self.sessions.launch(rq, chat, transport, interaction.user.id)
        await session.until_settled()
        return session

    async def close(self) -> None:
        """End every round of this client (on shutdown, or before a reconnect with a new client): cancel
        and drain each round's task, end it, show the open question as stopped and tell the channel."""
        await self.sessions.shutdown()

    async def wait_idle(self) -> None:
        """Wait until every round task has finished (tests)."""
        tasks = [s.task for s in self.sessions.sessions.values() if s.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def may_stop_as_admin(interaction: discord.Interaction) -> bool:
    """A chat admin for the stop policy: anyone in a DM, or a member who may manage messages (a teacher
    or moderator)."""
    if interaction.guild_id is None:
        return True
    return bool(interaction.permissions.manage_messages)
