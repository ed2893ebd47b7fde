"""A target's kind → the channel that delivers to it, and the secret it needs: the one table of
both. A new target kind is a module in ``channels/``, a maker here and its key in
``core.model.SECRET_KEYS`` (which ``check`` reads to report a missing secret)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path

import requests

from ..core.model import Settings, TargetKind, TargetSettings
from ..core.planning import WEBSUB_PREFIX
from ..errors import ConfigError
from .channels.base import Channel, ImageSource
from .fetch import public_session
from .secrets import Secrets
from .store import Store


def _webhook(target: TargetSettings, secret: str, made: Channels) -> Channel:
    from .channels.webhook import WebhookChannel

    return WebhookChannel(target, secret, made.session)


def _mastodon(target: TargetSettings, secret: str, made: Channels) -> Channel:
    from .channels.mastodon import MastodonChannel

    return MastodonChannel(target, secret, requests.Session(), made.images)  # Mastodon.py keeps its own state


def _bluesky(target: TargetSettings, secret: str, made: Channels) -> Channel:
    from .channels.bluesky import BlueskyChannel
    from .sessions import SessionKeeper

    sessions = SessionKeeper(made.store, target.service, target.handle, secret) if made.store else None
    return BlueskyChannel(target, secret, made.images, made.clock_id, sessions)


def _discord(target: TargetSettings, url: str, made: Channels) -> Channel:
    from .channels.discord import DiscordChannel

    return DiscordChannel(target, url, requests.Session())  # its own: the webhook URL is never in a shared one


def _telegram(target: TargetSettings, token: str, made: Channels) -> Channel:
    from .channels.telegram import TelegramChannel

    return TelegramChannel(target, token, requests.Session())


def _slack(target: TargetSettings, secret: str, made: Channels) -> Channel:
    from .channels.slack import SlackChannel

    return SlackChannel(target, secret, made.session)


def _webmention(target: TargetSettings, secret: str, made: Channels) -> Channel:
    from .channels.webmention import WebmentionChannel

    # a post's links and their pages' endpoints are someone else's words: public addresses only
    return WebmentionChannel(target, public_session(frozenset(made.settings.content.fetch_allow)))


# Imported when first used: a site with only webhooks never loads atproto or Mastodon.py.
MAKERS: dict[TargetKind, Callable[[TargetSettings, str, Channels], Channel]] = {
    "webhook": _webhook,
    "mastodon": _mastodon,
    "bluesky": _bluesky,
    "discord": _discord,
    "telegram": _telegram,
    "slack": _slack,
    "webmention": _webmention,
}


def secret_problem(target: TargetSettings, value: str) -> str | None:
    """Why a target's secret, as set, cannot be what its kind needs (None: it may be); for `check`.
    Never says the value."""
    if target.kind == "discord":
        from .channels.discord import webhook_url_problem

        return webhook_url_problem(value)
    if target.kind == "telegram":
        from .channels.telegram import token_problem

        return token_problem(value)
    return None


def preload(kinds: Iterable[str]) -> None:
    """Import the channel modules of these kinds now (the daemon does, before its first delivery)."""
    for kind in sorted(set(kinds)):
        importlib.import_module(f"{__package__}.channels.{kind}")


class Channels:
    """Channels made on first use, one per target; a target that cannot be set up is reported once."""

    def __init__(
        self,
        settings: Settings,
        site_dir: Path,
        secrets: Secrets,
        session: requests.Session,
        clock_id: int = 0,
        store: Store | None = None,
    ) -> None:
        self.settings = settings
        self.store = store  # where a Bluesky session is kept between runs (None: made anew in each)
        self.secrets = secrets
        self.session = session
        self.clock_id = clock_id
        static = settings.content.static
        fetcher = public_session(frozenset(settings.content.fetch_allow))
        self.images = ImageSource(settings.site.url, (site_dir / static) if static else None, fetcher)
        self.made: dict[str, Channel] = {}
        self.broken: dict[str, str] = {}

    def get(self, target_name: str) -> Channel | None:
        if target_name in self.made:
            return self.made[target_name]
        if target_name in self.broken:
            return None
        try:
            channel = self._make(target_name)
        except ConfigError as e:
            self.broken[target_name] = self.secrets.redact(str(e))
            return None
        self.made[target_name] = channel
        return channel

    def _make(self, name: str) -> Channel:
        if name.startswith(WEBSUB_PREFIX):
            from .channels.websub import WebSubChannel

            return WebSubChannel(name.removeprefix(WEBSUB_PREFIX), self.session)
        target = self.settings.target(name)
        if target is None:
            raise ConfigError(f"target {name!r} is no longer in the config; its deliveries wait until it is back")
        return MAKERS[target.kind](target, self.secrets.get(target) if target.secret_key else "", self)

    def close(self) -> None:
        for channel in self.made.values():
            channel.close()
        self.images.session.close()
