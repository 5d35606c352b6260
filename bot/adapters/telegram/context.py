"""Typed access to the shared services from every python-telegram-bot callback.

PTB's documented way (``ContextTypes``, see PTB's ``contexttypesbot`` example): the application is built
with :data:`CONTEXT_TYPES`, so ``application.bot_data`` is a :class:`BotData` (not a dict) and every
callback gets a :class:`BotContext`, whose :attr:`~BotContext.services` and :attr:`~BotContext.quiz` are
typed attributes instead of ``context.bot_data["..."]`` look-ups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

if TYPE_CHECKING:
    from bot.adapters.telegram.quiz import QuizRunner
    from bot.services import Services


class BotData:
    """``application.bot_data``: what one Application serves. PTB creates it empty (no arguments);
    :func:`~bot.adapters.telegram.handlers.register_handlers` fills it before the application starts."""

    __slots__ = ("quiz", "services")

    def __init__(self) -> None:
        self.services: Services | None = None
        self.quiz: QuizRunner | None = None


class BotContext(CallbackContext[ExtBot[None], dict, dict, BotData]):
    """The ``context`` of every handler and error callback of the Telegram adapter."""

    @property
    def services(self) -> Services:
        """The shared services (model, species, state, rate limits).

        Raises:
            RuntimeError: before :func:`~bot.adapters.telegram.handlers.register_handlers` ran.
        """
        services = self.bot_data.services
        if services is None:
            raise RuntimeError("register_handlers() has not run on this application")
        return services

    @property
    def quiz(self) -> QuizRunner:
        """The application's quiz runner.

        Raises:
            RuntimeError: before :func:`~bot.adapters.telegram.handlers.register_handlers` ran.
        """
        quiz = self.bot_data.quiz
        if quiz is None:
            raise RuntimeError("register_handlers() has not run on this application")
        return quiz


#: Passed to ``ApplicationBuilder.context_types``.
CONTEXT_TYPES = ContextTypes(context=BotContext, bot_data=BotData)

#: The Application type the adapter builds.
BotApplication = Application[ExtBot[None], BotContext, dict, dict, BotData, None]

