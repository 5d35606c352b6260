"""Alembic environment for the state database. :func:`bot.state.db.migrate` runs it on an open
connection (``config.attributes["connection"]``); there is no ``alembic.ini`` and no offline mode."""

from __future__ import annotations

from alembic import context

from bot.state.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through bot.state.db.migrate
    raise RuntimeError("run the state migrations through bot.state.db.migrate")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
