"""Telegram updates already handled, shared by every replica (webhook de-duplication on ``update_id``)."""

from __future__ import annotations

from sqlalchemy import delete

from bot.state.db import Database, completes_when_cancelled
from bot.state.tables import processed_updates

#: Handled Telegram updates are remembered this long (seconds); Telegram re-delivers for about a day.
PROCESSED_UPDATES_KEEP_S = 2 * 24 * 3600


class ProcessedUpdates(Database):
    """The ``processed_updates`` table: which Telegram updates a replica already claimed."""

    @completes_when_cancelled
    async def claim_update(self, bot_id: str | int, update_id: int) -> bool:
        """Record that Telegram update ``update_id`` of bot ``bot_id`` is being handled. Returns False
        when it was already claimed (by this or another replica): a re-delivery, to be skipped.

        Claims older than :data:`PROCESSED_UPDATES_KEEP_S` are forgotten now and then.
        """
        now = self._clock()
        async with self._tx() as db:
            stmt = self._insert(processed_updates).values(
                bot_id=str(bot_id), update_id=int(update_id), received_at=now
            ).on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
            claimed = (await db.execute(stmt)).rowcount == 1
            if claimed and int(update_id) % 1000 == 0:
                await db.execute(delete(processed_updates).where(
                    processed_updates.c.received_at < now - PROCESSED_UPDATES_KEEP_S))
            return claimed
