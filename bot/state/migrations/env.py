"""Alembic environment for the state database. :func:`bot.core.quiz.state.migrate` runs it on an open
connection (``config.attributes["connection"]``); there is no ``alembic.ini`` and no offline mode."""

from __future__ import annotations

from alembic import context

from bot.core.quiz.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through bot.core.quiz.state.migrate
    raise RuntimeError("run the state migrations through bot.core.quiz.state.migrate")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
