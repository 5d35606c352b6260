"""The whole state database as one object: the quiz store, the identification log, the usage
statistics and the handled Telegram updates over one :class:`bot.state.db.Database` (one engine, one
lock). The services open it once with :meth:`StateStore.open`."""

from __future__ import annotations

from bot.state.identifications import IdentificationLog
from bot.state.quiz import QuizStore
from bot.state.stats import UsageStatistics
from bot.state.updates import ProcessedUpdates


class StateStore(QuizStore, IdentificationLog, UsageStatistics, ProcessedUpdates):
    """Every job's queries on one open state database. See :meth:`bot.state.db.Database.open`."""
