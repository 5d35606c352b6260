"""Reptile Museum chatbot: platform-neutral core (``bot.core``) and platform adapters (``bot.adapters``)."""

__version__ = "0.1.0"
