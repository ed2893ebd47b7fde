"""Secrets come only from the environment variables the config names, and never leave: every
message that could hold one goes through :meth:`Secrets.redact` before it is printed or stored."""

from __future__ import annotations

import os

from ..core.model import TargetSettings
from ..errors import ConfigError


class Secrets:
    """Secrets read from the environment, and a redactor that keeps them out of every message."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.environ = dict(os.environ if environ is None else environ)
        self.values: set[str] = set()

    def get(self, target: TargetSettings, key: str | None = None) -> str:
        """The secret of ``target`` (by default the one it needs, ``secret_key``); raises
        ConfigError naming the variable, never a value."""
        key = key or target.secret_key
        name = getattr(target, key)
        value = self.environ.get(name, "")
        if not value:
            raise ConfigError(f"target {target.name!r}: environment variable {name} ({key}) is not set")
        self.values.add(value)
        if value.startswith("whsec_"):
            self.values.add(value.removeprefix("whsec_"))
        if key == "url_env":  # a webhook URL: its last segment is the token, whatever is around it
            self.values.add(value.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])
        if target.kind == "telegram" and ":" in value:  # a bot token: <bot id>:<secret>
            self.values.add(value.split(":", 1)[1])
        return value

    def redact(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            if len(value) >= 4:
                text = text.replace(value, "***")
        return text
