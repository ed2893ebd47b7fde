"""One module per kind of target. Each channel takes its HTTP client in its constructor,
turns one delivery into one request (or a few), and reports the outcome as a
:class:`Receipt` or by raising :class:`DeliveryFailed` with a :class:`Failure` that says
whether to retry. Channels hold no policy about *when*: :mod:`syndicate.core.planning` does.
"""

from __future__ import annotations

from ...errors import DeliveryFailed
from .base import Channel, Payload, Receipt, classify_http, retry_after_seconds

__all__ = ["Channel", "DeliveryFailed", "Payload", "Receipt", "classify_http", "retry_after_seconds"]
