"""Discord command callbacks: ``/reptile``, the "Identify reptile" message context menu, ``/species``
(with autocomplete), ``/help``, ``/forgetme``, the admin-only ``/stats``, and the quiz commands
``/quiz start``, ``/quiz stop``, ``/leaderboard`` and ``/score`` (run by :mod:`.quiz`). Thin: every
answer is a core fact card rendered by :mod:`.render`.

Answer flow for a photo (Discord allows 3 seconds for the first answer):

1. the core (:class:`bot.core.photo.IdentifyPhoto`) checks the attachment's declared size and content
   type, then the per-user rate limit, *before* downloading; a refusal is an ephemeral reply at once
   and a refused file costs no quota;
2. otherwise the fetch it calls defers with "thinking…" and downloads at most ``MAX_IMAGE_BYTES``;
   the core identifies off the loop and logs;
3. edit the "thinking…" message into the fact-card embed (with a "Quiz the group!" button for the
   core's quiz offer; only the attachment URL is remembered, never the bytes). A problem found
   only after downloading (a file that says it is an image but is not, busy, an error) matters to the
   sender only: the thinking message is deleted and the kind answer is sent as an ephemeral follow-up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
import discord
from discord import app_commands

from bot.adapters.discord.quiz import PLATFORM, DiscordQuiz, photo_view
from bot.adapters.discord.render import render_embed, text_embed
from bot.core import messages as m
from bot.core.admin import NOT_ADMIN_TEXT, is_admin, stats_text
from bot.core.card import CardKind, FactCard
from bot.core.cards import problem_card
from bot.core.lookup import lookup_species
from bot.core.photo import FetchFailed, FetchTooLarge, PhotoRequest, QuizOffer
from bot.services import Services

log = logging.getLogger(__name__)

CONTEXT_MENU_NAME = "Identify reptile"
#: Discord allows at most 25 autocomplete choices, names and values up to 100 characters.
AUTOCOMPLETE_MAX = 25
CHOICE_MAX = 100
#: File name endings treated as pictures when an attachment has no content type.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic", ".heif", ".bmp", ".tif", ".tiff"}
)
#: Embed types that carry a picture (a link preview of an image, a GIF, a rich/article preview).
_PICTURE_EMBEDS = frozenset({"image", "gifv", "rich", "article", "link"})

HELP_TEXT = (
    "Hi! I'm the Reptile Museum bot. 🦎🐍🐢🐊 I tell you what reptile is in a photo: its name, where "
    "it lives, what it eats, whether it is endangered, a fun fact, and a warning if it might be venomous.\n\n"
    "**/reptile** `photo:` — attach a photo and I'll identify it.\n"
    f"**Right-click a message → Apps → {CONTEXT_MENU_NAME}** — I'll look at the photo in that message.\n"
    "**/species** `name:` — look up a reptile by name (start typing and pick one).\n"
    "**/quiz start** `questions:` `level:` — a reptile quiz for everyone in this channel: press a "
    "number to answer; the answer is shown when time is up. **/quiz stop** ends it.\n"
    "After I recognise a photo, press **Quiz the group!** to turn it into a quiz question.\n"
    "**/leaderboard** — the best quiz players in this server. **/score** — your own score.\n"
    "**/forgetme** — I forget your quiz scores and answers.\n"
    "**/help** — show this message.\n\n"
    "Remember: never touch a wild reptile. Keep away and tell an adult!"
)


@dataclass(frozen=True, slots=True)
class ImageSource:
    """Where a picture is, and what Discord says about it before we download it."""

    url: str
    size: int | None
    content_type: str | None
    filename: str = ""


class ImageFetcher:
    """Downloads pictures from Discord's CDN with a byte cap and a timeout (one shared aiohttp session).

    Args:
        timeout_s: total time allowed for one download.
    """

    def __init__(self, timeout_s: float = 20.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        """The body at ``url``, at most ``max_bytes`` bytes.

        Raises:
            FetchTooLarge: when the body (or its declared length) is larger than ``max_bytes``.
            FetchFailed: on a network error, a timeout or a non-200 status.
        """
        if urlsplit(url).scheme not in ("http", "https"):
            raise FetchFailed(f"unsupported URL scheme in {url[:40]!r}")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.get(url, allow_redirects=False) as resp:
                if resp.status != 200:
                    raise FetchFailed(f"HTTP {resp.status}")
                if resp.content_length is not None and resp.content_length > max_bytes:
                    raise FetchTooLarge(f"{resp.content_length} bytes")
                data = bytearray()
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > max_bytes:
                        raise FetchTooLarge(f"more than {max_bytes} bytes")
                return bytes(data)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FetchFailed(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _looks_like_image(att: discord.Attachment) -> bool:
    if att.content_type:
        return att.content_type.lower().startswith("image/")
    return PurePosixPath(att.filename.lower()).suffix in IMAGE_SUFFIXES


def source_from_attachment(att: discord.Attachment) -> ImageSource:
    """The attachment's URL with the size and content type Discord declares for it."""
    return ImageSource(att.url, att.size, att.content_type, att.filename)


def _embed_picture(embed: discord.Embed) -> ImageSource | None:
    # Only Discord's media proxy URL is fetched: an embed's original URL can point anywhere.
    if embed.type not in _PICTURE_EMBEDS:
        return None
    for media in (embed.image, embed.thumbnail):
        if media.proxy_url:
            return ImageSource(media.proxy_url, None, None)
    return None


def find_message_image(message: discord.Message) -> ImageSource | None:
    """The first picture attached to (or embedded in, or forwarded with) ``message``.

    Falls back to the first attachment of any kind, so a message with only a PDF gets the kind
    "that's not a picture" answer; ``None`` when the message has no attachment or picture at all.
    """
    attachments = list(message.attachments)
    embeds = list(message.embeds)
    for snapshot in getattr(message, "message_snapshots", None) or ():
        attachments += list(snapshot.attachments)
        embeds += list(snapshot.embeds)
    for att in attachments:
        if _looks_like_image(att):
            return source_from_attachment(att)
    for embed in embeds:
        found = _embed_picture(embed)
        if found is not None:
            return found
    return source_from_attachment(attachments[0]) if attachments else None


class DiscordHandlers:
    """The command callbacks, bound to the shared services.

    Args:
        services: the shared services (species repository, identify service, quiz engine, settings).
        fetcher: downloads pictures with a byte cap.
        quiz: runs the quiz rounds; ``None`` leaves out the "Quiz the group!" button.
    """

    def __init__(self, services: Services, fetcher: ImageFetcher, quiz: DiscordQuiz | None = None) -> None:
        self.services = services
        self.fetcher = fetcher
        self.quiz = quiz

    # ------------------------------------------------------------------ commands
    async def reptile(self, interaction: discord.Interaction, photo: discord.Attachment) -> None:
        """``/reptile photo:`` — identify the attached picture."""
        await self.identify_source(interaction, source_from_attachment(photo))

    async def identify_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Message context menu "Identify reptile" — identify the first picture in ``message``."""
        source = find_message_image(message)
        if source is None:
            await self.send_private(interaction, problem_card(m.NO_IMAGE_IN_MESSAGE_TEXT, tips=m.PHOTO_TIPS))
            return
        await self.identify_source(interaction, source)

    async def species(self, interaction: discord.Interaction, name: str) -> None:
        """``/species name:`` — the fact card of a taxon (public), or a private "not found"."""
        card = await lookup_species(self.services.species, name)
        if card.kind is CardKind.PROBLEM:
            await self.send_private(interaction, card)
        else:
            await interaction.response.send_message(embed=render_embed(card))

    async def species_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Up to 25 names matching what the user has typed, common and scientific."""
        choices = []
        for taxon in self.services.species.autocomplete(current[:CHOICE_MAX], limit=AUTOCOMPLETE_MAX):
            label = f"{taxon.common_name} ({taxon.scientific_name})"
            if len(label) > CHOICE_MAX:
                label = label[: CHOICE_MAX - 1] + "…"
            choices.append(app_commands.Choice(name=label, value=taxon.scientific_name[:CHOICE_MAX]))
        return choices

    async def help(self, interaction: discord.Interaction) -> None:
        """``/help`` — what the bot does (ephemeral: it only matters to the one who asked)."""
        embed = discord.Embed(title="🦎 Reptile Museum", description=HELP_TEXT, colour=0x43A047)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    async def forgetme(self, interaction: discord.Interaction) -> None:
        """``/forgetme`` — delete the sender's quiz scores and answers on Discord (ephemeral answer)."""
        n = await self.services.quiz.forget_user(PLATFORM, interaction.user.id)
        log.info("discord: forgot a user's quiz data (%d rows)", n)
        await interaction.response.send_message(embed=text_embed(m.FORGOTTEN_TEXT), ephemeral=True)

    async def stats(self, interaction: discord.Interaction) -> None:
        """``/stats`` — usage counts, only for the Discord user ids listed in ``ADMIN_IDS`` (ephemeral)."""
        svc = self.services
        if not is_admin(svc.admin_ids, PLATFORM, interaction.user.id):
            await interaction.response.send_message(embed=text_embed(NOT_ADMIN_TEXT), ephemeral=True)
            return
        text = await stats_text(svc.state, svc.runner.pending, svc.runner.max_pending, svc.started_at)
        await interaction.response.send_message(embed=text_embed(text), ephemeral=True)

    # ------------------------------------------------------------------ photo flow
    async def identify_source(self, interaction: discord.Interaction, source: ImageSource) -> None:
        """The core photo use case with a fetch that defers ("thinking…") and downloads, then the
        answer (see the module docstring)."""
        max_bytes = self.services.identify.max_bytes

        async def fetch() -> bytes:
            await interaction.response.defer(thinking=True)
            return await self.fetcher.fetch(source.url, max_bytes)

        reply = await self.services.photos.handle(PhotoRequest(
            PLATFORM, interaction.channel_id or 0, interaction.user.id, source.size, source.content_type,
            fetch))
        if reply.card.kind is CardKind.PROBLEM:
            await self.send_private(interaction, reply.card)
            return
        view = self.photo_quiz_view(interaction, reply.quiz_offer, source)
        if view is None:
            await interaction.edit_original_response(embed=render_embed(reply.card))
        else:
            await interaction.edit_original_response(embed=render_embed(reply.card), view=view)

    def photo_quiz_view(
        self, interaction: discord.Interaction, offer: QuizOffer | None, source: ImageSource
    ) -> discord.ui.View | None:
        """The "Quiz the group!" button for the core's quiz offer, or ``None``."""
        if self.quiz is None or offer is None:
            return None
        key = self.services.quiz.remember_photo(
            PLATFORM, interaction.channel_id or 0, source.url, offer.scientific_name
        )
        return photo_view(key)

    async def send_private(self, interaction: discord.Interaction, card: FactCard) -> None:
        """Answer with ``card`` so that only the sender sees it.

        Before any answer this is an ephemeral reply. After a public "thinking…" defer, Discord keeps
        the first follow-up public, so the thinking message is deleted first and the card goes in an
        ephemeral follow-up; if that fails, the thinking message is edited instead.
        """
        embed = render_embed(card)
        if not interaction.response.is_done():
            await interaction.response.send_message(embed=embed, ephemeral=True)
            return
        try:
            await interaction.delete_original_response()
            await interaction.followup.send(embed=embed, ephemeral=True)
        except discord.HTTPException as exc:
            log.warning("ephemeral follow-up failed (%s); editing the original answer", exc)
            await interaction.edit_original_response(embed=embed)

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Log any failure of a command once and tell the sender kindly; never raises.

        A Discord API failure (e.g. HTTP 500 still failing after discord.py's own retries) is one log
        line without a traceback; telling the user then usually fails the same way, which is only
        logged at DEBUG so an outage does not flood the log.
        """
        command = interaction.command.qualified_name if interaction.command else "?"
        cause = getattr(error, "original", error)
        api_failure = isinstance(cause, discord.HTTPException)
        if api_failure:
            log.error("Discord command %s failed: Discord API answered %s (%s)", command,
                      cause.status, type(cause).__name__)
        else:
            log.error("Discord command %s failed", command, exc_info=error)
        try:
            await self.send_private(interaction, problem_card(m.ERROR_TEXT))
        except discord.HTTPException as exc:
            log.log(logging.DEBUG if api_failure else logging.WARNING,
                    "could not tell the user about the failure of %s (%s %s)", command, exc.status,
                    type(exc).__name__)
        except Exception:
            log.warning("could not tell the user about the failure of %s", command, exc_info=True)


def register_commands(tree: app_commands.CommandTree, handlers: DiscordHandlers) -> None:
    """Add ``/reptile``, ``/species``, ``/help``, ``/forgetme``, ``/stats``, the "Identify reptile" context
    menu and (when the handlers have a quiz runner) the quiz commands to ``tree``, and route command errors to
    :meth:`DiscordHandlers.on_error`."""

    @app_commands.command(name="reptile", description="Tell me what reptile is in a photo")
    @app_commands.describe(photo="A photo of a reptile (JPEG, PNG, WebP, GIF or HEIC)")
    async def reptile(interaction: discord.Interaction, photo: discord.Attachment) -> None:
        await handlers.reptile(interaction, photo)

    @app_commands.command(name="species", description="Look up a reptile by name")
    @app_commands.describe(name="Common or scientific name, for example komodo dragon")
    async def species(interaction: discord.Interaction, name: app_commands.Range[str, 1, 100]) -> None:
        await handlers.species(interaction, name)

    @species.autocomplete("name")
    async def species_name(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await handlers.species_autocomplete(interaction, current)

    @app_commands.command(name="help", description="What can the Reptile Museum bot do?")
    async def help_(interaction: discord.Interaction) -> None:
        await handlers.help(interaction)

    @app_commands.command(name="forgetme", description="Forget my quiz scores and answers")
    async def forgetme(interaction: discord.Interaction) -> None:
        await handlers.forgetme(interaction)

    @app_commands.command(name="stats", description="Usage numbers (only for the bot's admins)")
    async def stats(interaction: discord.Interaction) -> None:
        await handlers.stats(interaction)

    async def identify_message(interaction: discord.Interaction, message: discord.Message) -> None:
        await handlers.identify_message(interaction, message)

    tree.add_command(reptile)
    tree.add_command(species)
    tree.add_command(help_)
    tree.add_command(forgetme)
    tree.add_command(stats)
    if handlers.quiz is not None:
        register_quiz_commands(tree, handlers.quiz)
    tree.add_command(app_commands.ContextMenu(name=CONTEXT_MENU_NAME, callback=identify_message))
    tree.error(handlers.on_error)


def register_quiz_commands(tree: app_commands.CommandTree, quiz: DiscordQuiz) -> None:
    """Add ``/quiz start`` (``questions`` 1-20, ``level`` kids/expert), ``/quiz stop``, ``/leaderboard``
    and ``/score``. A slash-command group cannot be run on its own, so starting is ``/quiz start``."""
    group = app_commands.Group(name="quiz", description="A reptile quiz for everyone in this channel")

    @group.command(name="start", description="Start a reptile quiz in this channel")
    @app_commands.describe(questions="How many questions (1-20, default 5)",
                           level="kids: well-known animals (default); expert: every species")
    async def start(
        interaction: discord.Interaction,
        questions: app_commands.Range[int, 1, 20] = 5,
        level: Literal["kids", "expert"] = "kids",
    ) -> None:
        await quiz.start(interaction, questions, level)

    @group.command(name="stop", description="Stop the quiz running in this channel")
    async def stop(interaction: discord.Interaction) -> None:
        await quiz.stop(interaction)

    @app_commands.command(name="leaderboard", description="The best quiz players in this server")
    async def leaderboard(interaction: discord.Interaction) -> None:
        await quiz.leaderboard(interaction)

    @app_commands.command(name="score", description="Your own quiz score in this server")
    async def score(interaction: discord.Interaction) -> None:
        await quiz.score(interaction)

    tree.add_command(group)
    tree.add_command(leaderboard)
    tree.add_command(score)
