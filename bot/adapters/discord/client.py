"""The Discord client: registers the commands, syncs them in ``setup_hook`` and serves until cancelled.

``setup_hook`` also registers the quiz buttons' dynamic items (so presses on buttons of earlier runs are
answered politely) and tells channels whose quiz was cut off by a restart (``INTERRUPTED_TEXT``).

No privileged intents are used (no message-content intent): slash commands and context menus arrive
as interactions, which carry everything the bot needs, including the target message of a context menu.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import discord
from discord import app_commands

from bot.adapters.discord.commands import DiscordHandlers, ImageFetcher, register_commands
from bot.adapters.discord.quiz import DYNAMIC_ITEMS, PLATFORM, DiscordQuiz, buttons_view
from bot.adapters.discord.render import restart_embed
from bot.core.quiz.engine import INTERRUPTED_TEXT
from bot.core.quiz.session import announce_restart, round_config
from bot.services import Services
from bot.state.quiz import CutQuestion

log = logging.getLogger(__name__)

#: Commands work in servers, in DMs with the bot and in other DMs / group DMs (user installs).
ALLOWED_CONTEXTS = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)
ALLOWED_INSTALLS = app_commands.AppInstallationType(guild=True, user=True)


def bot_intents() -> discord.Intents:
    """The gateway intents the bot needs: only ``guilds`` (channel and server info), nothing privileged."""
    intents = discord.Intents.none()
    intents.guilds = True
    return intents


class ReptileBot(discord.Client):
    """The Reptile Museum Discord client.

    Args:
        services: the shared services.
        guild_id: when set, commands are synced to this one server (instant, for development);
            otherwise they are synced globally (may take a while to appear everywhere).
        quiz_open_period: seconds a quiz question stays open (default: ``QUIZ_OPEN_PERIOD_S``).
        quiz_reveal_pause: seconds between a reveal and the next question (default:
            ``QUIZ_REVEAL_PAUSE_S``).
        **options: passed to :class:`discord.Client` (e.g. ``http_trace``).
    """

    def __init__(
        self,
        services: Services,
        *,
        guild_id: int | None = None,
        quiz_open_period: float | None = None,
        quiz_reveal_pause: float | None = None,
        **options: object,
    ) -> None:
        super().__init__(
            intents=bot_intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            **options,  # type: ignore[arg-type]
        )
        self.services = services
        self.guild_id = guild_id
        self.fetcher = ImageFetcher()
        config = round_config(services.settings)
        if quiz_open_period is not None:
            config = dataclasses.replace(config, open_period_s=float(quiz_open_period))
        if quiz_reveal_pause is not None:
            config = dataclasses.replace(config, reveal_pause_s=float(quiz_reveal_pause))
        self.quiz = DiscordQuiz(self, services.quiz, config, services.leases)
        self.handlers = DiscordHandlers(services, self.fetcher, self.quiz)
        self.tree: app_commands.CommandTree[ReptileBot] = app_commands.CommandTree(
            self, allowed_contexts=ALLOWED_CONTEXTS, allowed_installs=ALLOWED_INSTALLS
        )
        register_commands(self.tree, self.handlers)
        self.synced: list[app_commands.AppCommand] = []
        self.interrupted_notice: asyncio.Task[None] | None = None

    async def setup_hook(self) -> None:
        """Register the quiz buttons, start telling interrupted quiz channels, and sync the application
        commands: to ``DISCORD_GUILD_ID`` when set, else globally.

        A failed sync is logged and the bot keeps serving (commands synced earlier still work).
        """
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        self.quiz.sessions.start_keeper()  # renew our round leases, take over rounds of dead replicas
        self.interrupted_notice = asyncio.create_task(self.announce_interrupted_rounds(),
                                                      name="discord-interrupted-quizzes")
        try:
            if self.guild_id:
                guild = discord.Object(id=self.guild_id)
                self.tree.copy_global_to(guild=guild)
                self.synced = await self.tree.sync(guild=guild)
                log.info("discord: synced %d commands to server %s", len(self.synced), self.guild_id)
            else:
                self.synced = await self.tree.sync()
                log.info("discord: synced %d global commands (they may take a while to appear)",
                         len(self.synced))
        except discord.Forbidden:
            log.error("discord: command sync refused; invite the bot with the applications.commands scope "
                      "(and check DISCORD_GUILD_ID)")
        except discord.HTTPException as exc:
            log.error("discord: command sync failed (%s %s)", exc.status, exc.text)

    async def on_ready(self) -> None:
        """Log who we are once connected (and count as ready for ``/readyz``)."""
        self.services.platforms_up["discord"] = True
        log.info("discord: connected as %s (%s)", self.user, self.user.id if self.user else "?")

    async def on_disconnect(self) -> None:
        """Not ready while the gateway connection is down (discord.py reconnects by itself)."""
        self.services.platforms_up["discord"] = False

    async def on_resumed(self) -> None:
        """Ready again after a resumed gateway session."""
        self.services.platforms_up["discord"] = True

    async def announce_interrupted_rounds(self) -> None:
        """Close each question the last restart cut where it was posted (the message edited into the
        answer with "stopped by a restart", its buttons disabled), then post ``INTERRUPTED_TEXT`` in
        each Discord channel whose quiz the restart cut off.

        Once per process (the engine hands the notices out once, so a reconnecting client does not
        repeat them); failures (no access to the channel, e.g. a user install) are ignored and summed up
        in one log line.
        """

        async def close_cut(question: CutQuestion) -> None:
            if not question.post_message_id:
                raise ValueError("never posted")
            message = self.get_partial_messageable(int(question.chat_id)).get_partial_message(
                int(str(question.post_message_id)))
            await message.edit(embed=restart_embed(question), view=buttons_view(
                question.question_id, question.n_options, question.correct_index, closed=True))

        async def tell(channel_id: str) -> None:
            await self.get_partial_messageable(int(channel_id)).send(INTERRUPTED_TEXT)

        closed, cut, told, chats = await announce_restart(
            self.services.quiz, PLATFORM, close_cut, tell, errors=(discord.HTTPException, ValueError))
        if cut:
            log.info("discord: closed %d of %d question(s) cut by the restart", closed, cut)
        if chats:
            log.info("discord: told %d of %d channel(s) that their quiz was stopped by a restart",
                     told, chats)

    async def close(self) -> None:
        """Stop this client's quiz rounds, close the picture downloader, then the Discord connection."""
        if self.interrupted_notice is not None and not self.interrupted_notice.done():
            self.interrupted_notice.cancel()
        try:
            await self.quiz.close()
        except Exception:
            log.warning("discord: could not stop the running quizzes", exc_info=True)
        await self.fetcher.close()
        await super().close()


class ShardedReptileBot(ReptileBot, discord.AutoShardedClient):
    """The same bot on :class:`discord.AutoShardedClient`: this process runs the shards ``shard_ids`` of
    ``shard_count`` (keyword options). Discord sends each server's events (its interactions, so its
    quizzes and leaderboard) only to the shard that owns it: ``(guild_id >> 22) % shard_count``; direct
    messages go to shard 0."""


def make_client(services: Services) -> ReptileBot:
    """The Discord client the settings ask for: sharded when ``DISCORD_SHARD_COUNT`` is set.

    Raises:
        ValueError: bad ``DISCORD_SHARD_COUNT`` / ``DISCORD_SHARD_IDS``.
    """
    settings = services.settings
    count, ids = settings.discord_shards()
    if count is None:
        return ReptileBot(services, guild_id=settings.discord_guild_id)
    log.info("discord: running shard(s) %s of %d", ",".join(map(str, ids or range(count))), count)
    return ShardedReptileBot(services, guild_id=settings.discord_guild_id, shard_count=count,
                             shard_ids=list(ids) if ids else None)


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that receives server ``guild_id``'s events (Discord's documented formula)."""
    return (int(guild_id) >> 22) % int(shard_count)


async def serve_discord(services: Services) -> None:
    """Run the Discord bot until cancelled; the client is always closed on the way out.

    Raises:
        RuntimeError: when ``DISCORD_BOT_TOKEN`` is not set.
        discord.LoginFailure: when the token is wrong (the supervisor logs it and retries with backoff).
    """
    settings = services.settings
    if not settings.has_discord() or settings.discord_bot_token is None:
        raise RuntimeError("DISCORD_BOT_TOKEN is not set")
    client = make_client(services)
    try:
        await client.start(settings.discord_bot_token.get_secret_value().strip(), reconnect=True)
    finally:
        if not client.is_closed():
            await client.close()
        log.info("discord: closed")
