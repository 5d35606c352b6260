"""Settings read from the environment, a ``.env`` file or a secrets folder (pydantic-settings).

Every setting is documented in ``config.example.env``. Tokens are :class:`pydantic.SecretStr`, so they
never appear in ``repr()``, logs or exception text.

Secrets folder (Docker/Kubernetes secrets): each file is named after a setting (``telegram_bot_token``,
``discord_bot_token``, any case) and holds its value. The folder is ``SETTINGS_SECRETS_DIR`` when set,
else ``/run/secrets`` when it exists. Environment variables and ``.env`` win over secret files.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

#: Repository root: the default home of the model and the species database.
PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: Where Docker and Kubernetes mount secrets; used when it exists and SETTINGS_SECRETS_DIR is unset.
DEFAULT_SECRETS_DIR = Path("/run/secrets")


def secrets_dir() -> Path | None:
    """The secrets folder: ``SETTINGS_SECRETS_DIR`` when set (empty = none), else ``/run/secrets`` when
    it is a directory, else ``None``."""
    configured = os.environ.get("SETTINGS_SECRETS_DIR")
    if configured is not None:
        return Path(configured) if configured.strip() else None
    return DEFAULT_SECRETS_DIR if DEFAULT_SECRETS_DIR.is_dir() else None


class Settings(BaseSettings):
    """All runtime settings. Environment variable names are the field names in upper case."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    telegram_webhook_url: str | None = None
    telegram_webhook_listen: str = "0.0.0.0"  # only used in webhook mode
    telegram_webhook_port: int = Field(8443, ge=1, le=65535)
    telegram_webhook_secret: SecretStr | None = None
    #: Webhook replicas: seconds an update stays claimed by the replica handling it; when that replica
    #: dies, another one handles the update Telegram delivers again once this has passed.
    telegram_update_lease_s: float = Field(30.0, gt=0, le=3600)

    discord_bot_token: SecretStr | None = None
    discord_guild_id: int | None = None
    #: Shards of the whole bot (``DISCORD_SHARD_COUNT``) and the ones this process runs
    #: (``DISCORD_SHARD_IDS``, e.g. ``0,1``); unset = one process runs the bot unsharded, as before.
    discord_shard_count: int | None = Field(None, ge=1, le=10_000)
    discord_shard_ids: str = ""

    model_path: Path = PROJECT_ROOT / "inference" / "models" / "efficientnet_lite0.onnx"
    reptile_pack: Path | None = None  # species pack folder (python -m training.train); empty = base model
    reptile_packs: str = ""  # comma-separated head-only pack folders, all applied to one backbone run
    species_db_path: Path = PROJECT_ROOT / "species.sqlite"
    state_db_path: Path = PROJECT_ROOT / "state.sqlite"
    #: ``sqlite:///FILE`` or ``postgresql://user[:password]@host[:port]/db``; empty = ``STATE_DB_PATH``.
    state_db_url: SecretStr | None = None
    #: Port of the health and metrics server (``/healthz``, ``/readyz``, ``/metrics``); empty = none.
    health_port: int | None = Field(None, ge=0, le=65535)
    health_listen: str = "0.0.0.0"
    #: ``redis://host:6379/0``: per-user rate limits shared by every replica; empty = in memory.
    redis_url: SecretStr | None = None

    max_image_bytes: int = Field(15 * 1024 * 1024, ge=1024, description="largest accepted upload, bytes")
    max_image_pixels: int = Field(40_000_000, ge=10_000, description="largest width*height decoded")
    inference_workers: int = Field(2, ge=1, le=16, description="threads running decode + inference")
    inference_queue: int = Field(32, ge=1, description="photos queued or running before 'busy'")
    onnx_threads: int = Field(1, ge=1, le=16, description="onnxruntime intra-op threads per call")

    quiz_open_period_s: int = Field(
        30, ge=5, le=600, description="seconds each quiz question stays open (Telegram Bot API: 5-600)"
    )
    quiz_reveal_pause_s: float = Field(
        3.0, ge=0, le=60, description="seconds between a question's reveal and the next question"
    )
    #: This process's name in the round leases of the state database; empty = ``<hostname>-<pid>``.
    replica_id: str = ""
    quiz_lease_renew_s: float = Field(
        5.0, gt=0, le=300, description="seconds between renewals of a round's lease (ttl: 3 renewals)"
    )

    user_rate_limit: int = Field(8, ge=1, description="photos one user may send per window")
    user_rate_window_s: float = Field(60.0, gt=0, description="rate-limit window, seconds")
    admin_ids: str = ""  # comma-separated platform:user_id, e.g. "telegram:123,discord:456"
    identification_salt: SecretStr | None = None  # salt for hashed chat ids in the log

    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Priority: arguments, environment, ``.env``, then the secrets folder (:func:`secrets_dir`,
        looked up at each instantiation)."""
        return init_settings, env_settings, dotenv_settings, SecretsSettingsSource(
            settings_cls, secrets_dir=secrets_dir()
        )

    @field_validator("reptile_pack", mode="before")
    @classmethod
    def _empty_pack_is_none(cls, value: object) -> object:
        """``REPTILE_PACK=`` (empty) means the base model."""
        return None if isinstance(value, str) and not value.strip() else value

    def pack_dirs(self) -> list[Path]:
        """Every configured pack folder: ``REPTILE_PACKS`` (comma-separated) then ``REPTILE_PACK``."""
        dirs = [Path(p.strip()) for p in self.reptile_packs.split(",") if p.strip()]
        if self.reptile_pack and self.reptile_pack not in dirs:
            dirs.append(self.reptile_pack)
        return dirs

    def discord_shards(self) -> tuple[int | None, tuple[int, ...] | None]:
        """``(DISCORD_SHARD_COUNT, DISCORD_SHARD_IDS)`` for :class:`discord.AutoShardedClient`; with a
        count and no ids this process runs every shard. ``(None, None)`` when unset.

        Raises:
            ValueError: ids without a count, an id that is not a number, or an id >= the count.
        """
        ids = tuple(int(part) for part in self.discord_shard_ids.replace(" ", "").split(",") if part)
        if self.discord_shard_count is None:
            if ids:
                raise ValueError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT")
            return None, None
        if any(not 0 <= i < self.discord_shard_count for i in ids):
            raise ValueError(f"DISCORD_SHARD_IDS must be between 0 and {self.discord_shard_count - 1}")
        return self.discord_shard_count, ids or None

    @field_validator("state_db_url", "redis_url", "health_port", "discord_shard_count", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """An empty ``STATE_DB_URL=``, ``REDIS_URL=``, ``HEALTH_PORT=`` (...) means "not set"."""
        return None if isinstance(value, str) and not value.strip() else value

    def state_db_target(self) -> str | Path:
        """What :meth:`bot.state.db.Database.open` opens: ``STATE_DB_URL`` when set, else the
        SQLite file ``STATE_DB_PATH``."""
        if self.state_db_url is not None and self.state_db_url.get_secret_value().strip():
            return self.state_db_url.get_secret_value().strip()
        return self.state_db_path

    def has_telegram(self) -> bool:
        """True when a non-empty Telegram token is configured."""
        return bool(self.telegram_bot_token and self.telegram_bot_token.get_secret_value().strip())

    def has_discord(self) -> bool:
        """True when a non-empty Discord token is configured."""
        return bool(self.discord_bot_token and self.discord_bot_token.get_secret_value().strip())
