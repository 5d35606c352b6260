"""Telegram adapter (python-telegram-bot v22): thin glue between the Bot API and :mod:`bot.core`.

- :mod:`.render`: fact card → Telegram HTML.
- :mod:`.handlers`: update handlers (photos, documents, commands, groups) and the error handler.
- :mod:`.context`: the typed callback context (``context.services``, ``context.quiz``).
- :mod:`.app`: :func:`~.app.build_application` and :func:`~.app.serve_telegram` (polling or webhook),
  with :class:`~.app.BoundedUpdateProcessor` bounding the updates handled at once.
"""
