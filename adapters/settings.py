"""Settings read once from the environment into a validated model (never at import of a library module)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from adapters.limits import (
    MAX_ARCHIVE_DAYS,
    MAX_CHECK_DELAY,
    MAX_DELIVERY_ATTEMPTS,
    MAX_RETRY_BASE_SECONDS,
    MAX_THRESHOLD,
)

EMAIL_PATTERN = r"^[^@\s,;<>]+@[^@\s,;<>]+$"  # one address; also keeps CR/LF out of the mail headers


class SettingsError(ValueError):
    pass


class Settings(BaseModel):
    home: Path = Path(".inventory")
    default_threshold: int = Field(default=10, ge=0, le=MAX_THRESHOLD)
    # One address each, checked at start: a typo would otherwise surface only when a mail is refused.
    purchasing_email: str = Field(default="purchasing@example.com", pattern=EMAIL_PATTERN)
    sender_email: str = Field(default="inventory@example.com", pattern=EMAIL_PATTERN)
    smtp_url: str | None = None
    bucket_name: str = "inventory-local"
    check_delay: float = Field(default=10.0, ge=0, le=MAX_CHECK_DELAY)
    # 1, 2, 4 … 256 s between ten tries: about 8.5 minutes before a delivery is dead-lettered, enough to
    # ride out a mail server's restart or greylisting (a 0.2 s base gave up within 4 seconds).
    max_attempts: int = Field(default=10, ge=1, le=MAX_DELIVERY_ATTEMPTS)
    retry_base_seconds: float = Field(default=1.0, ge=0, le=MAX_RETRY_BASE_SECONDS)
    # How long the local event archive keeps delivered events (the AWS archive keeps them 365 days).
    archive_days: int = Field(default=365, ge=1, le=MAX_ARCHIVE_DAYS)
    # How long a file in serve's inbox must stay unchanged before it is taken (a copy may stall).
    inbox_settle_seconds: float = Field(default=5.0, ge=0, le=3600)
    # Encryption at rest of the local home (kms.envelope); the master key lives outside the home.
    encrypt: bool = True
    master_key: str | None = Field(default=None, repr=False)
    master_key_file: Path | None = None
    # Required to serve the API on anything but loopback; every request must then carry it.
    api_token: str | None = Field(default=None, repr=False)

    @classmethod
    def from_env(cls, home: Path | None = None, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {
            "home": home or Path(env.get("INVENTORY_HOME") or ".inventory"),
        }
        names = {
            "default_threshold": "INVENTORY_DEFAULT_THRESHOLD",
            "purchasing_email": "INVENTORY_PURCHASING_EMAIL",
            "sender_email": "INVENTORY_SENDER_EMAIL",
            "smtp_url": "INVENTORY_SMTP_URL",
            "bucket_name": "INVENTORY_BUCKET",
            "check_delay": "INVENTORY_CHECK_DELAY",
            "max_attempts": "INVENTORY_MAX_ATTEMPTS",
            "retry_base_seconds": "INVENTORY_RETRY_BASE_SECONDS",
            "archive_days": "INVENTORY_ARCHIVE_DAYS",
            "inbox_settle_seconds": "INVENTORY_INBOX_SETTLE_SECONDS",
            "encrypt": "INVENTORY_ENCRYPT",
            "master_key": "INVENTORY_MASTER_KEY",
            "master_key_file": "INVENTORY_MASTER_KEY_FILE",
            "api_token": "INVENTORY_API_TOKEN",
        }
        for field, var in names.items():
            if env.get(var):
                values[field] = env[var]
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0])
            var = names.get(field, field)
            message = first["msg"]
            if field.endswith("_email") and first["type"] == "string_pattern_mismatch":
                # The pattern itself would tell a person nothing.
                message = f"{first['input']!r} is not one plain address such as purchasing@example.com"
            raise SettingsError(f"invalid setting {var}: {message}") from None
