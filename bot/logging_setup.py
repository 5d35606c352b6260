"""Logging with secrets redacted: configured tokens never appear in any log line.

This module is the one place that redacts. :data:`REDACTOR`, a :class:`RedactingFilter`, sits on every
handler of the root logger; library loggers (discord.py, python-telegram-bot, httpx, aiohttp, asyncio)
propagate to the root, so their records pass through it too, including formatted tracebacks. Secrets
known only at run time (a generated webhook secret) are added with :func:`add_secrets`. Adapters
register the exceptions their library logs for expected network faults with :func:`fold_expected`:
such a record becomes one line without a traceback. Uncaught exceptions (main thread and other
threads) and Python warnings are routed into logging as well, so they are redacted instead of printed
raw to stderr.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar
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


@dataclass(frozen=True, slots=True)
class ExpectedFaults:
    """Records of loggers under ``logger_prefix`` whose exception is one of ``exceptions``: an expected
    network fault that the adapter answers and logs itself. Such a record is folded into one line (the
    message, cut to 300 characters, and the exception's first 200); one whose message starts with one of
    ``demoted`` is detail and kept only as a DEBUG line when that logger logs DEBUG."""

    logger_prefix: str
    exceptions: tuple[type[BaseException], ...]
    demoted: tuple[str, ...] = ()


class RedactingFilter(logging.Filter):
    """Replaces every configured secret (and anything shaped like a Telegram token) with ``***``, and
    folds expected library faults (:class:`ExpectedFaults`) into one line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self.expected: list[ExpectedFaults] = []
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Redact ``secrets`` too (empty values and ones already known are skipped)."""
        self._secrets += [s for s in secrets if s and s not in self._secrets]

    def redact(self, text: str) -> str:
        """``text`` with secrets replaced."""
        return redact(text, self._secrets)

    def _fold(self, record: logging.LogRecord, message: str) -> str | None:
        """``message`` folded into one line when ``record`` is an expected fault, ``None`` to drop a
        demoted one, else ``message`` unchanged."""
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return message
        for rule in self.expected:
            if record.name.startswith(rule.logger_prefix) and isinstance(exc, rule.exceptions):
                message = f"{message[:300]} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
                record.exc_info = None
                record.exc_text = None
                if message.startswith(rule.demoted):
                    if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
                        return None
                    record.levelno, record.levelname = logging.DEBUG, "DEBUG"
                return message
        return message

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: never let it (or its arguments) through raw
            message = f"unformattable log message: {record.msg!s}"
        folded = self._fold(record, message)
        if folded is None:
            return False
        message = folded
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_H = TypeVar("_H", bound=logging.Handler)

#: The process's one redacting filter (on every root handler after :func:`setup_logging`).
REDACTOR = RedactingFilter()


def add_secrets(secrets: Iterable[str]) -> None:
    """Redact ``secrets`` in every log line from now on (e.g. a webhook secret generated at start-up)."""
    REDACTOR.add_secrets(secrets)


def fold_expected(rule: ExpectedFaults) -> None:
    """Fold the expected faults ``rule`` describes into one line each (idempotent)."""
    if rule not in REDACTOR.expected:
        REDACTOR.expected.append(rule)


def redact_handler(handler: _H) -> _H:
    """Put :data:`REDACTOR` on ``handler`` (idempotent); returns ``handler``. :func:`setup_logging` does
    this for the root handlers; tools and tests that add their own handler call it."""
    if REDACTOR not in handler.filters:
        handler.addFilter(REDACTOR)
    return handler


def setup_logging(settings: Settings) -> None:
    """Log to stderr at ``settings.log_level`` with token redaction on every handler."""
    add_secrets(
        s.get_secret_value()
        for s in (settings.telegram_bot_token, settings.discord_bot_token, settings.telegram_webhook_secret)
        if s is not None
    )
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        redact_handler(handler)
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
