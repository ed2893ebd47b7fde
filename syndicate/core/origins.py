"""Which server a delivery goes to: a target's *origin* (``scheme://host[:port]``), the unit a
rate limit (HTTP 429) applies to, shared by every target, site and host that sends there. Pure:
strings in, strings out."""

from __future__ import annotations

from urllib.parse import urlsplit

from .model import Settings
from .planning import WEBSUB_PREFIX

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url``, lower-cased, the scheme's default port left out (so
    ``HTTPS://Social.Example:443/api`` and ``https://social.example`` are one origin); None for
    a URL without a host."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not host or not scheme:
        return None
    shown = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        shown += f":{port}"
    return f"{scheme}://{shown}"


def target_origin(settings: Settings, target: str) -> str | None:
    """The origin a target's deliveries go to (a webhook's URL, a Mastodon instance, a Bluesky
    PDS, a WebSub hub, Slack's or Telegram's API); None for a target no longer in the config, and
    for one whose server is in a secret (Discord's webhook URL) or varies (webmention endpoints)."""
    if target.startswith(WEBSUB_PREFIX):
        return origin(target.removeprefix(WEBSUB_PREFIX))
    found = settings.target(target)
    if found is None:
        return None
    return origin(found.url or found.instance or found.service or found.api)  # api: Slack's, Telegram's
