"""Typed access to the shared services from every python-telegram-bot callback.

PTB's documented way (``ContextTypes``, see PTB's ``contexttypesbot`` example): the application is built
with :data:`CONTEXT_TYPES`, so ``application.bot_data`` is a :class:`BotData` (not a dict) and every
callback gets a :class:`BotContext`, whose :attr:`~BotContext.services` and :attr:`~BotContext.quiz` are
typed attributes instead of ``context.bot_data["..."]`` look-ups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telegram.ext import CallbackContext, ContextTypes, ExtBot

if TYPE_CHECKING:
    from bot.adapters.telegram.quiz import QuizRunner
    from bot.services import Services


class BotData:
    """``application.bot_data``: what one Application serves. PTB creates it empty (no arguments);
    :func:`~bot.adapters.telegram.handlers.register_handlers` sets both attributes before the
    application starts (reading one earlier raises ``AttributeError``)."""

    __slots__ = ("quiz", "services")
    services: Services
    quiz: QuizRunner


class BotContext(CallbackContext[ExtBot[None], dict, dict, BotData]):
    """The ``context`` of every handler and error callback of the Telegram adapter."""

    @property
    def services(self) -> Services:
        """The shared services (model, species, state, rate limits)."""
        return self.bot_data.services

    @property
    def quiz(self) -> QuizRunner:
        """The application's quiz runner."""
        return self.bot_data.quiz


#: Passed to ``ApplicationBuilder.context_types``.
CONTEXT_TYPES = ContextTypes(context=BotContext, bot_data=BotData)

