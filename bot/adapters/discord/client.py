"""The Discord client: registers the commands, syncs them in ``setup_hook`` and serves until cancelled.

No privileged intents are used (no message-content intent): slash commands and context menus arrive
as interactions, which carry everything the bot needs, including the target message of a context menu.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.adapters.discord.commands import DiscordHandlers, ImageFetcher, register_commands
from bot.services import Services

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
        **options: passed to :class:`discord.Client` (e.g. ``http_trace``).
    """

    def __init__(self, services: Services, *, guild_id: int | None = None, **options: object) -> None:
        super().__init__(
            intents=bot_intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            **options,  # type: ignore[arg-type]
        )
        self.services = services
        self.guild_id = guild_id
        self.fetcher = ImageFetcher()
        self.handlers = DiscordHandlers(services, self.fetcher)
        self.tree: app_commands.CommandTree[ReptileBot] = app_commands.CommandTree(
            self, allowed_contexts=ALLOWED_CONTEXTS, allowed_installs=ALLOWED_INSTALLS
        )
        register_commands(self.tree, self.handlers)
        self.synced: list[app_commands.AppCommand] = []

    async def setup_hook(self) -> None:
        """Sync the application commands: to ``DISCORD_GUILD_ID`` when set, else globally.

        A failed sync is logged and the bot keeps serving (commands synced earlier still work).
        """
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
        """Log who we are once connected."""
        log.info("discord: connected as %s (%s)", self.user, self.user.id if self.user else "?")

    async def close(self) -> None:
        """Close the picture downloader, then the Discord connection."""
        await self.fetcher.close()
        await super().close()


async def serve_discord(services: Services) -> None:
    """Run the Discord bot until cancelled; the client is always closed on the way out.

    Raises:
        RuntimeError: when ``DISCORD_BOT_TOKEN`` is not set.
        discord.LoginFailure: when the token is wrong (the supervisor logs it and retries with backoff).
    """
    settings = services.settings
    if not settings.has_discord() or settings.discord_bot_token is None:
        raise RuntimeError("DISCORD_BOT_TOKEN is not set")
    client = ReptileBot(services, guild_id=settings.discord_guild_id)
    try:
        await client.start(settings.discord_bot_token.get_secret_value().strip(), reconnect=True)
    finally:
        if not client.is_closed():
            await client.close()
        log.info("discord: closed")
