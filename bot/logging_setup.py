"""Logging with secrets redacted: configured tokens never appear in any log line.

Every handler of the root logger gets a :class:`RedactingFilter`; library loggers (discord.py,
python-telegram-bot, httpx, aiohttp, asyncio) propagate to the root, so their records pass through it
too, including formatted tracebacks. Uncaught exceptions (main thread and other threads) and Python
warnings are routed into logging as well, so they are redacted instead of printed raw to stderr.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable
from types import TracebackType
from urllib.parse import quote

from bot.settings import Settings

# Telegram tokens look like 123456789:AA... and appear in Bot API URLs (``:`` percent-encoded in file URLs).
_TELEGRAM_TOKEN_RE = re.compile(r"\d{5,}(?::|%3A)[A-Za-z0-9_-]{20,}", re.IGNORECASE)


def secret_variants(secret: str) -> list[str]:
    """The forms a secret takes in logs, longest first: as is, without surrounding spaces,
    percent-encoded (file download URLs encode a token's ``:`` as ``%3A``), and a Telegram token's
    secret part after the ``:``. Variants shorter than 8 characters are left out."""
    variants: set[str] = set()
    for s in {secret, secret.strip()}:
        variants |= {s, quote(s, safe=""), quote(s)}
        _, sep, tail = s.partition(":")
        if sep:
            variants.add(tail)
    return sorted((v for v in variants if len(v) >= 8), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every variant of each secret (:func:`secret_variants`), and anything shaped like
    a Telegram bot token, replaced by ``***``."""
    for secret in secrets:
        if secret:
            for variant in secret_variants(secret):
                text = text.replace(variant, "***")
    return _TELEGRAM_TOKEN_RE.sub("***", text)


class RedactingFilter(logging.Filter):
    """Replaces every configured secret (and anything shaped like a Telegram token) with ``***``."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def redact(self, text: str) -> str:
        """``text`` with secrets replaced."""
        return redact(text, self._secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: never let it (or its arguments) through raw
            message = f"unformattable log message: {record.msg!s}"
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def setup_logging(settings: Settings) -> None:
    """Log to stderr at ``settings.log_level`` with token redaction on every handler."""
    secrets = [
        s.get_secret_value()
        for s in (settings.telegram_bot_token, settings.discord_bot_token, settings.telegram_webhook_secret)
        if s is not None
    ]
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    redactor = RedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


_uncaught_log = logging.getLogger("reptile_museum.uncaught")


def _log_uncaught(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """``sys.excepthook``: an uncaught exception is logged (and so redacted), not printed raw."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    _uncaught_log.critical("uncaught exception", exc_info=(exc_type, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    """``threading.excepthook``: like :func:`_log_uncaught` for other threads."""
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread else "?"
    _uncaught_log.critical("uncaught exception in thread %s", name,
                           exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
