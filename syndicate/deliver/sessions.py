"""Bluesky sessions kept in the store, sealed: one ``createSession`` per account (a PDS and a
handle), then the session is refreshed, never made again per process or run (the network allows
about 100 a day per handle).

The store never sees a token: what it keeps is the session sealed with AES-256-GCM under a key
derived from the account's app password (scrypt, salted by the handle), bound to the PDS and
the handle (the associated data), and its expiry (not secret: the access token's ``exp``), so
that a run can tell a session to refresh before it opens it. A changed password makes the
stored session unreadable: it is taken for none, and the next session made replaces it."""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import StoreError
from .store import Store

VERSION = b"\x01"  # the sealed form: VERSION + 12-byte nonce + AES-GCM ciphertext (with its tag)
SALT = b"syndicate bluesky session\x00"
SCRYPT_N = 2**14  # ~16 MiB and ~0.1 s once per account and process: a guess at the password costs as much
_keys: dict[tuple[str, bytes], bytes] = {}  # (handle, sha256 of the password) → key, for this process


def _key(handle: str, password: str) -> bytes:
    index = (handle.lower(), hashlib.sha256(password.encode()).digest())
    if index not in _keys:
        kdf = Scrypt(salt=SALT + handle.lower().encode(), length=32, n=SCRYPT_N, r=8, p=1)
        _keys[index] = kdf.derive(password.encode())
    return _keys[index]


def _bound(service: str, handle: str) -> bytes:
    return f"{service}\n{handle.lower()}".encode()


def seal(password: str, service: str, handle: str, secret: str) -> bytes:
    """``secret`` (a session, as text) sealed for this account: unreadable without its password."""
    nonce = os.urandom(12)
    return VERSION + nonce + AESGCM(_key(handle, password)).encrypt(nonce, secret.encode(), _bound(service, handle))


def unseal(password: str, service: str, handle: str, sealed: bytes) -> str | None:
    """What :func:`seal` sealed; None when it cannot be read with this password (a changed password,
    another account's row, a damaged or older form)."""
    if len(sealed) < 1 + 12 + 16 or sealed[:1] != VERSION:
        return None
    try:
        plain = AESGCM(_key(handle, password)).decrypt(sealed[1:13], sealed[13:], _bound(service, handle))
    except InvalidTag:
        return None
    return plain.decode("utf-8", errors="replace")


@dataclass
class SessionKeeper:
    """One account's session in the store: read and opened (:meth:`load`), sealed and kept
    (:meth:`save`). A store that cannot read or keep it costs one ``createSession``, never a
    delivery: its error is not raised here (the ledger's next write says it)."""

    store: Store
    service: str
    handle: str
    password: str = field(repr=False)

    def load(self) -> tuple[str, datetime] | None:
        """The session kept for this account and when its access token expires; None when there is
        none or it cannot be read (another password)."""
        try:
            kept = self.store.session(self.service, self.handle)
        except StoreError:
            return None
        if kept is None:
            return None
        sealed, expires = kept
        text = unseal(self.password, self.service, self.handle, sealed)
        return (text, expires) if text is not None else None

    def save(self, session: str, expires: datetime) -> None:
        sealed = seal(self.password, self.service, self.handle, session)
        with contextlib.suppress(StoreError):
            self.store.save_session(self.service, self.handle, sealed, expires)
