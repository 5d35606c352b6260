"""Telegram updates claimed and handled, shared by every replica (webhook de-duplication on ``update_id``).

A replica *claims* an update before handling it and marks it *done* afterwards. A claim expires after
``lease_s`` seconds: when the replica that claimed an update dies in the middle of it, Telegram delivers
the update again (the webhook was never answered 200) and, once the claim has expired, another replica
claims and handles it. While a live claim is held the update is *busy*: the webhook asks Telegram to
deliver it again later.
"""

from __future__ import annotations

import enum

from sqlalchemy import and_, delete, select, update

from bot.state.db import Database, completes_when_cancelled
from bot.state.tables import processed_updates

#: Handled Telegram updates are remembered this long (seconds); Telegram re-delivers for about a day.
PROCESSED_UPDATES_KEEP_S = 2 * 24 * 3600


class Claim(enum.Enum):
    """What :meth:`ProcessedUpdates.claim_update` found."""

    #: This replica holds the claim now (a new update, or one whose earlier claim expired): handle it.
    CLAIMED = "claimed"
    #: The update was handled already: a re-delivery, to be answered 200 and skipped.
    DONE = "done"
    #: Another claim on it is still live (being handled elsewhere): ask Telegram to deliver it later.
    BUSY = "busy"


class ProcessedUpdates(Database):
    """The ``processed_updates`` table: which Telegram updates a replica claimed, and which are done."""

    @completes_when_cancelled
    async def claim_update(self, bot_id: str | int, update_id: int, lease_s: float) -> Claim:
        """Claim Telegram update ``update_id`` of bot ``bot_id`` for ``lease_s`` seconds (> 0), in one
        atomic upsert: a new update, or one whose claim expired and that is not done, is claimed by the
        caller; exactly one of several replicas racing for it wins.

        Rows older than :data:`PROCESSED_UPDATES_KEEP_S` are forgotten now and then.
        """
        now = self._clock()
        key = {"bot_id": str(bot_id), "update_id": int(update_id)}
        async with self._tx() as db:
            stmt = self._insert(processed_updates).values(
                **key, received_at=now, claimed_until=now + lease_s, done=0)
            stmt = stmt.on_conflict_do_update(
                index_elements=["bot_id", "update_id"],
                set_={"received_at": now, "claimed_until": now + lease_s},
                where=and_(processed_updates.c.done == 0, processed_updates.c.claimed_until < now),
            )
            if (await db.execute(stmt)).rowcount == 1:
                if int(update_id) % 1000 == 0:
                    await db.execute(delete(processed_updates).where(
                        processed_updates.c.received_at < now - PROCESSED_UPDATES_KEEP_S))
                return Claim.CLAIMED
            done = (await db.execute(select(processed_updates.c.done).where(
                processed_updates.c.bot_id == key["bot_id"],
                processed_updates.c.update_id == key["update_id"]))).scalar_one()
            return Claim.DONE if done else Claim.BUSY

    @completes_when_cancelled
    async def finish_update(self, bot_id: str | int, update_id: int) -> None:
        """Mark a claimed update handled: later deliveries of it are :attr:`Claim.DONE`."""
        async with self._tx() as db:
            await db.execute(update(processed_updates).where(
                processed_updates.c.bot_id == str(bot_id),
                processed_updates.c.update_id == int(update_id)).values(done=1))
