"""``reptile-museum run`` for the multi-process Discord test: the real command (:func:`bot.cli.main`),
with discord.py's two Discord addresses pointed at a fake Discord server (``FAKE_DISCORD_URL``,
``http://127.0.0.1:PORT`` of :class:`tests.fakes.fake_discord.FakeDiscord`) first. Discord's addresses are
constants in discord.py (``Route.BASE`` for REST, ``DiscordWebSocket.DEFAULT_GATEWAY`` for the gateway
of a sharded client with a known shard count), not settings, so this is the only change. Run as a
script: ``python tests/discord_process.py``.
"""

from __future__ import annotations

import os
import sys

import discord.gateway
import discord.http
import yarl


def main() -> int:
    """Point discord.py at ``FAKE_DISCORD_URL`` and run ``reptile-museum run``; returns its status."""
    base = os.environ["FAKE_DISCORD_URL"].rstrip("/")
    discord.http.Route.BASE = f"{base}/api/v10"
    gateway = base.replace("http://", "ws://", 1) + "/gateway/"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    from bot.cli import main as cli_main

    return cli_main(["run"])


if __name__ == "__main__":
    sys.exit(main())
