"""Logging with secrets redacted: configured tokens never appear in any log line."""

from __future__ import annotations

import logging
import re

from bot.settings import Settings

# Telegram tokens look like 123456789:AA... and appear in Bot API URLs.
_TELEGRAM_TOKEN_RE = re.compile(r"\d{6,12}:[A-Za-z0-9_-]{30,}")


class RedactingFilter(logging.Filter):
    """Replaces every configured secret (and anything shaped like a Telegram token) with ``***``."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 8]

    def redact(self, text: str) -> str:
        """``text`` with secrets replaced."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _TELEGRAM_TOKEN_RE.sub("***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
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
