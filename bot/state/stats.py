"""Usage statistics for admins (``/stats``): aggregate counts only, never ids or photos."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select

from bot.state.db import Database
from bot.state.quiz import RUNNING
from bot.state.tables import identifications, rounds, scores


@dataclass(frozen=True, slots=True)
class UsageStats:
    """Aggregate usage for admins: identification and quiz counts, never ids or photos."""

    identifications: int
    identifications_recent: int
    chats: int
    top_taxa: tuple[tuple[str, int], ...]
    rounds: int
    rounds_running: int
    players: int


class UsageStatistics(Database):
    """Counts over the identification log and the quiz tables."""

    async def usage_stats(self, since: float) -> UsageStats:
        """Aggregate counts for the admin ``/stats`` command (no per-user or per-chat data).

        Args:
            since: Unix time; ``*_recent`` counts are for rows at or after it.
        """
        recent = func.sum(case((identifications.c.created_at >= since, 1), else_=0))
        ident = await self._one(select(func.count(), func.coalesce(recent, 0),
                                       func.count(identifications.c.chat_hash.distinct())))
        n = func.count().label("n")
        top = await self._all(
            select(identifications.c.taxon, n).where(identifications.c.taxon != "")
            .group_by(identifications.c.taxon).order_by(n.desc(), identifications.c.taxon).limit(5))
        round_counts = await self._one(select(
            func.count(), func.coalesce(func.sum(case((rounds.c.status == RUNNING, 1), else_=0)), 0)))
        players = await self._one(select(func.count()).select_from(
            select(scores.c.platform, scores.c.user_id).distinct().subquery()))
        return UsageStats(
            identifications=int(ident[0]), identifications_recent=int(ident[1]), chats=int(ident[2]),
            top_taxa=tuple((r.taxon, int(r.n)) for r in top),
            rounds=int(round_counts[0]), rounds_running=int(round_counts[1]), players=int(players[0]),
        )
