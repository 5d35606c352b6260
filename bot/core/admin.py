"""Admin-only commands: ``/stats``. Adapters check :func:`is_admin` before calling."""

from __future__ import annotations

import time

from bot.state.stats import UsageStatistics

#: How far back "recent" counts look in /stats: one day, in seconds.
RECENT_S = 24 * 3600

NOT_ADMIN_TEXT = "Sorry, that command is only for the bot's grown-up helpers (admins)."


def parse_admin_ids(value: str) -> frozenset[str]:
    """Parse the ``ADMIN_IDS`` setting: comma-separated ``platform:user_id`` entries,
    e.g. ``"telegram:12345, discord:987654321"``. Blank entries are ignored."""
    return frozenset(part.strip().lower() for part in value.split(",") if part.strip())


def is_admin(admin_ids: frozenset[str], platform: str, user_id: str | int) -> bool:
    """True when ``platform:user_id`` is listed in ``ADMIN_IDS``."""
    return f"{platform}:{user_id}".lower() in admin_ids


async def stats_text(store: UsageStatistics, pending_photos: int, queue_limit: int, started_at: float) -> str:
    """Plain-text usage summary: identifications (all, last 24 h, distinct chats), most seen taxa,
    quiz rounds and players, and the inference queue. Contains no user or chat ids."""
    now = time.time()
    s = await store.usage_stats(since=now - RECENT_S)
    hours = (now - started_at) / 3600
    lines = [
        "📊 Reptile Museum stats",
        f"Up for {hours:.1f} h",
        f"Identifications: {s.identifications} ({s.identifications_recent} in the last 24 h) "
        f"in {s.chats} chats",
        f"Quiz rounds: {s.rounds} ({s.rounds_running} running), players: {s.players}",
        f"Photos in the queue now: {pending_photos} of {queue_limit}",
    ]
    if s.top_taxa:
        lines.append("Most seen: " + ", ".join(f"{name} ({n})" for name, n in s.top_taxa))
    return "\n".join(lines)
