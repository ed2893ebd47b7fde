"""An in-process transport for ``requests``, in the manner of httpx's ``MockTransport``: a session
whose every request goes to a handler (a function of the prepared request) instead of the
network. The handler returns ``(status, headers, body)`` or raises what the network would
(``requests.Timeout``, ``requests.ConnectionError``); every request is kept for the test to read."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

Answer = tuple[int, Mapping[str, str], bytes | str | dict[str, Any] | list[Any]]
Handler = Callable[[requests.PreparedRequest], Answer]


class MockTransport(BaseAdapter):
    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self.handler = handler
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.requests.append(request)
        status, headers, body = self.handler(request)
        if isinstance(body, dict | list):
            data = json.dumps(body).encode()
            headers = {"content-type": "application/json", **headers}
        else:
            data = body.encode() if isinstance(body, str) else body
        response = requests.Response()
        response.status_code = status
        response.reason = HTTPStatus(status).phrase
        response.headers = CaseInsensitiveDict(headers)
        response._content = data
        response.raw = io.BytesIO(data)
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


def mock_session(handler: Handler) -> tuple[requests.Session, MockTransport]:
    """A session that never touches the network: every URL goes to ``handler``."""
    session = requests.Session()
    session.trust_env = False
    transport = MockTransport(handler)
    session.mount("http://", transport)
    session.mount("https://", transport)
    return session, transport
