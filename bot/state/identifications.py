"""The identification log: one row per identified photo, with no photo and no raw chat id (only a
salted SHA-256 of the chat id, so chats can be counted)."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, insert, select

from bot.state.db import Database, completes_when_cancelled
from bot.state.tables import identifications


class IdentificationLog(Database):
    """Writes and counts the ``identifications`` table."""

    def chat_hash(self, platform: str, chat_id: str | int) -> str:
        """Salted SHA-256 (hex) of a chat id: lets us count chats without storing their ids."""
        data = self._salt + b"\x00" + platform.encode() + b"\x00" + str(chat_id).encode()
        return hashlib.sha256(data).hexdigest()

    @completes_when_cancelled
    async def log_identification(
        self, platform: str, chat_id: str | int, scientific_name: str, confidence: float
    ) -> None:
        """Log one identification: platform, hashed chat id, taxon, confidence in [0, 1], time.

        No photo, no file id, no user id and no raw chat id are stored.
        """
        conf = min(1.0, max(0.0, float(confidence)))
        async with self._tx() as db:
            await db.execute(insert(identifications).values(
                platform=platform, chat_hash=self.chat_hash(platform, chat_id), taxon=scientific_name,
                confidence=conf, created_at=self._clock()))

    async def identification_count(self) -> int:
        """Number of logged identifications."""
        row = await self._one(select(func.count()).select_from(identifications))
        return int(row[0]) if row else 0
