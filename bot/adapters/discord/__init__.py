"""Discord adapter (discord.py 2.x): slash commands, a message context menu and embeds.

Thin by design: every answer comes from :mod:`bot.core`; this package only turns Discord interactions
into core calls and fact cards into embeds. It needs no privileged intents.
"""
