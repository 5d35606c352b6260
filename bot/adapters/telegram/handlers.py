"""Telegram update handlers: thin glue between python-telegram-bot and :mod:`bot.core`.

Private chats: a photo (or an image sent as a file) gets a fact card; stickers, videos, GIFs, audio and
other media get a kind "please send a photo"; plain text gets a short hint. Groups (privacy mode):
photos are ignored unless someone replies to one with ``/reptile`` or ``/identify`` (or sends a photo
with that command as its caption). ``/start``, ``/help`` and ``/species NAME`` work everywhere.

Privacy and admin (everywhere): ``/forgetme`` deletes the sender's quiz scores and answers; ``/stats``
answers only the ids in ``ADMIN_IDS``. Photos count against the per-user rate limit before anything is
downloaded, after the size/type precheck (:mod:`bot.core.photo`).

Network faults: replies, ``getFile`` and downloads are retried a few times with backoff on network errors
(timeouts, reset connections, 5xx) by :func:`with_retries`; 429 answers are retried by PTB's
``AIORateLimiter``. A request Telegram refused (400, 403) is not retried.

Quizzes (everywhere): ``/quiz [number] [kids|expert]``, ``/quiz stop``, ``/leaderboard`` and ``/score``;
answers arrive as ``poll_answer`` updates. A confident identification in a group gets a
"Quiz the group!" button (a ``callback_query``) that starts a one-question photo round. See
:mod:`.quiz`.

Every callback gets a :class:`~.context.BotContext`: ``context.services`` (the shared
:class:`~bot.services.Services`) and ``context.quiz`` (the :class:`~.quiz.QuizRunner`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TypeVar

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    PhotoSize,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    PollAnswerHandler,
    filters,
)

from bot.adapters.telegram.context import BotContext
from bot.adapters.telegram.quiz import (
    NOT_RUNNING_TEXT,
    PHOTO_BUTTON_TEXT,
    PHOTO_CALLBACK_PREFIX,
    PHOTO_CALLBACK_RE,
    PLATFORM,
    QUIZ_USAGE_TEXT,
    QuizRunner,
    parse_quiz_args,
    start_text,
)
from bot.adapters.telegram.render import render_html
from bot.core import messages as m
from bot.core.admin import NOT_ADMIN_TEXT, is_admin, stats_text
from bot.core.card import FactCard
from bot.core.lookup import lookup_species
from bot.core.photo import FetchTooLarge, PhotoRequest
from bot.core.quiz.engine import NoQuestions, RoundAlreadyRunning
from bot.core.quiz.questions import Difficulty
from bot.logging_setup import redact
from bot.services import Services

log = logging.getLogger(__name__)

#: Commands that identify a replied-to photo.
IDENTIFY_COMMANDS = ("reptile", "identify")

#: Target size for a photo download, in pixels on the longer side; see :func:`choose_photo`.
PHOTO_TARGET_PX = 640

#: A photo or image sent with one of the identify commands as its caption (groups).
_CAPTION_COMMAND_RE = re.compile(r"^/(?:reptile|identify)(?:@(\w+))?(?:\s|$)", re.IGNORECASE)

#: Our own source tree: error locations point at our frame that called the failing library code.
_PACKAGE_DIR = str(Path(__file__).resolve().parents[2])

#: Anything shaped like a Telegram token, e.g. inside a Bot API URL.

#: Pauses (seconds) before each retry of a reply or download that failed on the network; their number
#: is the number of retries. Kept short: a child is waiting.
RETRY_DELAYS_S: tuple[float, ...] = (0.5, 1.5)

_T = TypeVar("_T")

#: Our wrappers around Bot API calls: error locations name their caller instead.
_RETRY_WRAPPERS = frozenset({"with_retries", "_send", "reply_plain", "reply_html", "reply_card"})



# ---------------------------------------------------------------------------------------------------
# Attachments
# ---------------------------------------------------------------------------------------------------


class MediaKind(Enum):
    """What a message carries, as far as identification is concerned."""

    IMAGE = "image"      # a photo, or a document that may be an image: download and identify
    MOVING = "moving"    # GIF (sent as an MP4 "animation"), video, video note: not a still photo
    OTHER = "other"      # sticker, audio, voice and other media: not a photo
    NONE = "none"        # plain text, or nothing at all


@dataclass(frozen=True, slots=True)
class Attachment:
    """The file to identify: Telegram file id, declared size (bytes) and MIME type when known."""

    kind: MediaKind
    file_id: str = ""
    file_size: int | None = None
    mime_type: str | None = None


def choose_photo(sizes: Sequence[PhotoSize], target_px: int = PHOTO_TARGET_PX) -> PhotoSize:
    """Pick the photo size to download.

    Telegram sends every photo in several sizes (typically 90, 320, 800, 1280 and 2560 px on the longer
    side). The model looks at a 224x224 centre crop, so the largest size only costs bandwidth, memory
    and decode time (a 2560 px JPEG is ~1 MB and 6.5 megapixels). We take the *smallest* size whose
    longer side is at least ``target_px`` (640 px: still ~3x the model input after cropping, so no
    detail the model could use is lost), and the largest one when none is that big.
    """
    if not sizes:
        raise ValueError("a photo message without sizes")
    by_area = sorted(sizes, key=lambda s: (s.width * s.height, s.file_size or 0))
    for size in by_area:
        if max(size.width, size.height) >= target_px:
            return size
    return by_area[-1]


def attachment_of(message: Message) -> Attachment:
    """Classify what ``message`` carries. A GIF is checked before documents: Telegram sends it as an
    ``animation`` (an MP4) *and* fills ``document`` for old clients."""
    if message.photo:
        photo = choose_photo(message.photo)
        return Attachment(MediaKind.IMAGE, photo.file_id, photo.file_size, "image/jpeg")
    if message.animation or message.video or message.video_note:
        return Attachment(MediaKind.MOVING)
    if message.document:
        doc = message.document
        return Attachment(MediaKind.IMAGE, doc.file_id, doc.file_size, doc.mime_type)
    if (
        message.sticker or message.audio or message.voice or message.location or message.contact
        or message.poll or message.dice or message.venue or message.game or message.story
    ):
        return Attachment(MediaKind.OTHER)
    return Attachment(MediaKind.NONE)


# ---------------------------------------------------------------------------------------------------
# Replies
# ---------------------------------------------------------------------------------------------------


async def reply_card(
    message: Message, card: FactCard, reply_markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Send ``card`` as HTML, replying to ``message`` (link previews off: the source link is a footnote)."""
    return await reply_html(message, render_html(card), reply_markup)


async def reply_html(
    message: Message, html_text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Reply to ``message`` with ready-made Telegram HTML, quoting it even in private chats."""
    return await _send(lambda: message.reply_text(
        html_text,
        parse_mode=ParseMode.HTML,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
        do_quote=True,
        allow_sending_without_reply=True,
        reply_markup=reply_markup,
    ))


async def reply_plain(message: Message, text: str) -> Message | None:
    """Reply to ``message`` with plain text (no parse mode, so nothing needs escaping)."""
    return await _send(lambda: message.reply_text(
        text,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
        do_quote=True,
        allow_sending_without_reply=True,
    ))


async def _send(call: Callable[[], Awaitable[Message]]) -> Message | None:
    """Send with :func:`with_retries`. Telegram answered 2xx but the body could not be parsed (PTB
    raises a bare :class:`~telegram.error.TelegramError`): the message was accepted, so it is not sent
    again and ``None`` is returned (one log line)."""
    try:
        return await with_retries("sendMessage", call)
    except TelegramError as exc:
        if type(exc) is not TelegramError:
            raise
        log.warning("telegram: sendMessage answer unreadable (%s); assuming it was delivered",
                    redact(str(exc))[:120])
        return None


async def with_retries(what: str, call: Callable[[], Awaitable[_T]],
                       delays: Sequence[float] | None = None) -> _T:
    """``await call()``, retried after each of ``delays`` (default :data:`RETRY_DELAYS_S`) when it
    fails on the network: a timeout, a reset connection or a 5xx answer (PTB raises
    :class:`~telegram.error.NetworkError` for those and does not retry them itself). Requests Telegram
    refused (:class:`~telegram.error.BadRequest`, 403, 429 after the rate limiter's own retries) and
    answers that arrived but could not be parsed are not retried: the first are final, and after the
    last Telegram has already acted on the request. Each failed attempt is logged in one line.

    A timed-out ``sendMessage`` may have been delivered anyway; retrying it risks a duplicate reply,
    which is better for a child than no reply. (:func:`_send` handles unreadable answers to a send.)
    """
    delays = RETRY_DELAYS_S if delays is None else delays
    for attempt, pause in enumerate((*delays, None), start=1):
        try:
            return await call()
        except BadRequest:
            raise
        except NetworkError as exc:
            if pause is None:
                raise
            log.warning("telegram: %s failed (%s: %s); retry %d of %d in %.1f s", what,
                        type(exc).__name__, redact(" ".join(str(exc).split()))[:160], attempt,
                        len(delays), pause)
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover


async def _typing(message: Message) -> None:
    """Show "typing…"; purely cosmetic, so a failure is only logged."""
    try:
        await message.reply_chat_action(ChatAction.TYPING)
    except TelegramError as exc:
        log.debug("telegram: chat action failed (%s)", type(exc).__name__)


async def identify_attachment(
    context: BotContext, source: Message, reply_to: Message
) -> None:
    """Identify the photo or image file in ``source`` and answer ``reply_to``.

    The order (precheck, rate limit, download, identify, log, quiz offer) is the core's
    (:class:`bot.core.photo.IdentifyPhoto`); this gives it the ``getFile`` + download step and renders
    the reply. Telegram's own download limit (``getFile`` answers "file is too big" above 20 MB) gets
    the same kind too-large reply.
    """
    services = context.services
    att = attachment_of(source)
    if att.kind is MediaKind.MOVING:
        await reply_plain(reply_to, m.MOVING_MEDIA_TEXT)
        return
    if att.kind is not MediaKind.IMAGE:
        await reply_plain(reply_to, m.NO_PHOTO_TEXT)
        return
    asker = reply_to.from_user.id if reply_to.from_user is not None else reply_to.chat.id

    async def fetch() -> bytes:
        await _typing(reply_to)
        try:
            tg_file = await with_retries("getFile", lambda: context.bot.get_file(att.file_id))
        except BadRequest as exc:
            if "too big" in str(exc).lower():  # Telegram's own download limit (20 MB)
                raise FetchTooLarge(str(exc)) from exc
            raise
        return bytes(await with_retries("file download", tg_file.download_as_bytearray))

    reply = await services.photos.handle(
        PhotoRequest(PLATFORM, reply_to.chat.id, asker, att.file_size, att.mime_type, fetch))
    markup = None
    if reply.quiz_offer is not None and _in_group(reply_to):
        key = services.quiz.remember_photo(
            PLATFORM, reply_to.chat.id, att.file_id, reply.quiz_offer.scientific_name
        )
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton(PHOTO_BUTTON_TEXT, callback_data=PHOTO_CALLBACK_PREFIX + key)]]
        )
    await reply_card(reply_to, reply.card, markup)


# ---------------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------------


def _in_group(message: Message) -> bool:
    return message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


async def help_command(update: Update, context: BotContext) -> None:
    """``/start`` and ``/help``: what the bot does (plus the group how-to in groups)."""
    message = update.effective_message
    if message is None:
        return
    text = m.HELP_TEXT
    if _in_group(message):
        text += "\n\n" + m.GROUP_HELP_EXTRA
    await reply_plain(message, text)


async def species_command(update: Update, context: BotContext) -> None:
    """``/species NAME``: the core look-up; with no name, the usage text."""
    message = update.effective_message
    if message is None:
        return
    query = " ".join(context.args or [])
    card = await lookup_species(context.services.species, query)
    await reply_card(message, card)


async def identify_command(update: Update, context: BotContext) -> None:
    """``/reptile`` or ``/identify`` sent as a reply to a photo: identify that photo."""
    message = update.effective_message
    if message is None:
        return
    target = message.reply_to_message
    if target is None or attachment_of(target).kind is MediaKind.NONE:
        await reply_plain(message, m.GROUP_NO_PHOTO_TEXT if _in_group(message) else m.NO_PHOTO_TEXT)
        return
    await identify_attachment(context, target, message)


async def group_caption_command(update: Update, context: BotContext) -> None:
    """A photo or image file sent to a group with ``/reptile`` (or ``/identify``) as its caption."""
    message = update.effective_message
    if message is None or not message.caption:
        return
    match = _CAPTION_COMMAND_RE.match(message.caption)
    if match is None:
        return
    addressed_to = match.group(1)
    if addressed_to and addressed_to.lower() != (context.bot.username or "").lower():
        return  # "/reptile@other_bot": not for us
    await identify_attachment(context, message, message)


async def private_message(update: Update, context: BotContext) -> None:
    """Any non-command message in a private chat: identify a photo, or explain what to send."""
    message = update.effective_message
    if message is None:
        return
    kind = attachment_of(message).kind
    if kind is MediaKind.IMAGE or kind is MediaKind.MOVING:
        await identify_attachment(context, message, message)
    elif kind is MediaKind.OTHER:
        await reply_plain(message, m.NO_PHOTO_TEXT)
    else:
        await reply_plain(message, m.PRIVATE_TEXT_HINT)


async def private_unknown_command(update: Update, context: BotContext) -> None:
    """An unknown ``/command`` in a private chat: the short hint."""
    message = update.effective_message
    if message is not None:
        await reply_plain(message, m.PRIVATE_TEXT_HINT)


# ---------------------------------------------------------------------------------------------------
# Quiz
# ---------------------------------------------------------------------------------------------------


def _thread_id(message: Message) -> int | None:
    """The forum topic a message belongs to, so quiz messages go to the same topic."""
    return message.message_thread_id if message.is_topic_message else None


def _user_id(message: Message) -> str:
    """Who sent ``message`` (may start and stop a round); '' for a channel post."""
    return str(message.from_user.id) if message.from_user else ""


async def quiz_command(update: Update, context: BotContext) -> None:
    """``/quiz [number] [kids|expert]`` starts a round in this chat; ``/quiz stop`` ends it."""
    message = update.effective_message
    if message is None:
        return
    request = parse_quiz_args(context.args or [])
    if request is None:
        await reply_plain(message, QUIZ_USAGE_TEXT)
        return
    runner = context.quiz
    if request.stop:
        summary = await runner.stop(context.bot, message.chat.id, _user_id(message))
        await reply_plain(message, summary or NOT_RUNNING_TEXT)
        return
    chat = runner.chat_ref(message.chat.id)
    try:
        first = await runner.engine.start(chat, request.n, request.difficulty)
    except (RoundAlreadyRunning, NoQuestions) as exc:
        await reply_plain(message, str(exc))
        return
    runner.launch(
        context.bot, first, message.chat.id, message.chat.type, _thread_id(message),
        intro=start_text(first.total, request.difficulty, runner.open_period),
        intro_reply_to=message.message_id, starter_id=_user_id(message),
    )


async def photo_quiz_button(update: Update, context: BotContext) -> None:
    """The "Quiz the group!" button under a confident identification: a one-question photo round."""
    query = update.callback_query
    if query is None:
        return
    match = PHOTO_CALLBACK_RE.match(query.data or "")
    message = query.message
    if match is None or message is None:
        await query.answer()
        return
    runner = context.quiz
    try:
        first = await runner.engine.start_photo_round(
            runner.chat_ref(message.chat.id), match.group(1), Difficulty.KIDS
        )
    except KeyError as exc:
        await query.answer(str(exc.args[0]) if exc.args else None)
        return
    except (RoundAlreadyRunning, NoQuestions) as exc:
        await query.answer(str(exc))
        return
    thread_id = _thread_id(message) if isinstance(message, Message) else None
    runner.launch(context.bot, first, message.chat.id, message.chat.type, thread_id,
                  starter_id=query.from_user.id)
    with contextlib.suppress(TelegramError):
        await query.answer()


async def poll_answer(update: Update, context: BotContext) -> None:
    """A vote in one of our quiz polls."""
    answer = update.poll_answer
    if answer is None or answer.user is None:
        return  # anonymous (voter_chat) votes cannot be scored
    await context.quiz.on_poll_answer(
        answer.poll_id, answer.user.id, answer.user.first_name, answer.option_ids
    )


async def forgetme_command(update: Update, context: BotContext) -> None:
    """``/forgetme``: delete the sender's quiz scores and answers (every chat, this platform)."""
    message = update.effective_message
    user = update.effective_user
    if message is None:
        return
    if user is None:
        await reply_plain(message, m.ERROR_TEXT)
        return
    removed = await context.services.quiz.forget_user(PLATFORM, user.id)
    log.info("telegram: /forgetme removed %d row(s)", removed)
    await reply_plain(message, m.FORGOTTEN_TEXT)


async def stats_command(update: Update, context: BotContext) -> None:
    """``/stats``: usage figures, only for the ids in ``ADMIN_IDS``."""
    message = update.effective_message
    user = update.effective_user
    if message is None:
        return
    services = context.services
    if user is None or not is_admin(services.admin_ids, PLATFORM, user.id):
        await reply_plain(message, NOT_ADMIN_TEXT)
        return
    runner = services.runner
    text = await stats_text(services.state, runner.pending, runner.max_pending, services.started_at)
    await reply_plain(message, text)


async def leaderboard_command(update: Update, context: BotContext) -> None:
    """``/leaderboard``: this chat's top 10 players."""
    message = update.effective_message
    if message is None:
        return
    text = await context.services.quiz.leaderboard_text(PLATFORM, message.chat.id, 10)
    await reply_plain(message, text)


async def score_command(update: Update, context: BotContext) -> None:
    """``/score``: the sender's own points in this chat."""
    message = update.effective_message
    user = update.effective_user
    if message is None:
        return
    if user is None:
        await reply_plain(message, QUIZ_USAGE_TEXT)
        return
    text = await context.services.quiz.my_score_text(PLATFORM, message.chat.id, user.id)
    await reply_plain(message, text)


# ---------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------


def describe_error(exc: BaseException, secrets: Sequence[str] = ()) -> str:
    """One line about ``exc``: type, redacted message (max 200 characters) and where it was raised."""
    text = redact(" ".join(str(exc).split()), secrets)[:200]
    where = ""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    ours = [f for f in frames if f.filename.startswith(_PACKAGE_DIR) and f.name not in _RETRY_WRAPPERS]
    if frames:
        last = (ours or frames)[-1]
        where = f" at {Path(last.filename).name}:{last.lineno} in {last.name}"
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"


async def error_handler(update: object, context: BotContext) -> None:
    """Log every failed update in one line (never the token or a raw URL) and say sorry when possible."""
    exc = context.error
    if exc is None:
        return
    secrets = [context.bot.token]
    update_id = update.update_id if isinstance(update, Update) else None
    message = update.effective_message if isinstance(update, Update) else None
    chat = message.chat.type if message is not None else "-"
    if isinstance(exc, Forbidden):  # the user blocked the bot or it was removed from the group
        log.info("telegram: update %s (%s chat) not answered: %s", update_id, chat,
                 describe_error(exc, secrets))
        return
    log.error("telegram: update %s (%s chat) failed: %s", update_id, chat, describe_error(exc, secrets))
    if message is None:
        return
    with contextlib.suppress(Exception):
        await reply_plain(message, m.ERROR_TEXT)


# ---------------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------------


def register_handlers(application: Application, services: Services) -> None:
    """Store ``services`` (and a :class:`QuizRunner`) in ``application.bot_data`` (a
    :class:`~.context.BotData`: the application is built with :data:`~.context.CONTEXT_TYPES`) and add
    every handler and the error handler."""
    application.bot_data.services = services
    application.bot_data.quiz = QuizRunner(services)
    messages_only = filters.UpdateType.MESSAGE
    private = filters.ChatType.PRIVATE & messages_only
    groups = filters.ChatType.GROUPS & messages_only

    application.add_handler(CommandHandler(["start", "help"], help_command, filters=messages_only))
    application.add_handler(CommandHandler("species", species_command, filters=messages_only))
    application.add_handler(CommandHandler(list(IDENTIFY_COMMANDS), identify_command, filters=messages_only))
    application.add_handler(CommandHandler("quiz", quiz_command, filters=messages_only))
    application.add_handler(CommandHandler("leaderboard", leaderboard_command, filters=messages_only))
    application.add_handler(CommandHandler("score", score_command, filters=messages_only))
    application.add_handler(CommandHandler("forgetme", forgetme_command, filters=messages_only))
    application.add_handler(CommandHandler("stats", stats_command, filters=messages_only))
    application.add_handler(PollAnswerHandler(poll_answer))
    application.add_handler(CallbackQueryHandler(photo_quiz_button, pattern=PHOTO_CALLBACK_RE))
    application.add_handler(
        MessageHandler(
            groups & (filters.PHOTO | filters.Document.ALL) & filters.CaptionRegex(_CAPTION_COMMAND_RE),
            group_caption_command,
        )
    )
    application.add_handler(MessageHandler(private & filters.COMMAND, private_unknown_command))
    application.add_handler(MessageHandler(private & ~filters.COMMAND, private_message))
    application.add_error_handler(error_handler)
