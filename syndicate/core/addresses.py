"""Which addresses syndicate may connect to on behalf of a post: public unicast ones, and the
hosts the config names in ``[content] fetch_allow``. Pure: strings in, answers out; the socket
check that applies them is in :mod:`syndicate.deliver.fetch`."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

ALLOW_HINT = "syndicate fetches only public addresses (allow a host with [content] fetch_allow)"


# --------------------------------------------------------------------------------------------------
# Which addresses are public
# --------------------------------------------------------------------------------------------------

_V4_NON_PUBLIC: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), kind)
    for net, kind in (
        ("0.0.0.0/8", "an unspecified"),
        ("10.0.0.0/8", "a private"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT)"),
        ("127.0.0.0/8", "a loopback"),
        ("169.254.0.0/16", "a link-local"),
        ("172.16.0.0/12", "a private"),
        ("192.0.0.0/24", "an IETF protocol"),
        ("192.0.2.0/24", "a documentation"),
        ("192.88.99.0/24", "a 6to4 relay"),
        ("192.168.0.0/16", "a private"),
        ("198.18.0.0/15", "a benchmarking"),
        ("198.51.100.0/24", "a documentation"),
        ("203.0.113.0/24", "a documentation"),
        ("224.0.0.0/4", "a multicast"),
        ("240.0.0.0/4", "a reserved"),  # includes the broadcast address 255.255.255.255
    )
)

_V6_NON_PUBLIC: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), kind)
    for net, kind in (
        ("::/128", "an unspecified"),
        ("::1/128", "a loopback"),
        ("::/96", "an IPv4-compatible (deprecated)"),
        ("64:ff9b:1::/48", "a local-use NAT64"),
        ("100::/64", "a discard-only"),
        ("2001::/32", "a Teredo"),
        ("2001::/23", "an IETF protocol"),
        ("2001:db8::/32", "a documentation"),
        ("3fff::/20", "a documentation"),
        ("5f00::/16", "a segment-routing"),
        ("fc00::/7", "a unique-local"),
        ("fe80::/10", "a link-local"),
        ("fec0::/10", "a site-local"),
        ("ff00::/8", "a multicast"),
    )
)
_V6_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_V6_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V6_6TO4 = ipaddress.IPv6Network("2002::/16")
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


def why_not_public(ip: str) -> str | None:
    """None if ``ip`` is a public unicast address, else a phrase such as ``"a loopback address"``."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 scope id ("fe80::1%eth0")
    except ValueError:
        return "not an IP address"
    if isinstance(addr, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = None
        if addr in _V6_MAPPED:
            embedded = addr.ipv4_mapped
        elif addr in _V6_NAT64:
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        elif addr in _V6_6TO4:
            embedded = addr.sixtofour
        if embedded is not None:
            inner = why_not_public(str(embedded))
            return None if inner is None else f"an IPv6 form of {embedded}, {inner}"
        for net6, kind in _V6_NON_PUBLIC:
            if addr in net6:
                return f"{kind} address"
        if addr not in _V6_GLOBAL_UNICAST:
            return "a reserved address"
    else:
        for net4, kind in _V4_NON_PUBLIC:
            if addr in net4:
                return f"{kind} address"
    if addr.is_multicast:
        return "a multicast address"
    if not addr.is_global:  # the standard library's view of the IANA special-purpose registries
        return "a non-public address"
    return None


def is_public_address(ip: str) -> bool:
    """True only for a globally reachable unicast IPv4/IPv6 address given as a string; False if unparsable."""
    return why_not_public(ip) is None


# --------------------------------------------------------------------------------------------------
# Hosts the config allows ([content] fetch_allow)
# --------------------------------------------------------------------------------------------------

Allow = frozenset[tuple[str, int | None]]


def normalize_host(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host.isascii():
        import idna  # only for a host name that is not ASCII: not on every command's start

        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as e:
            raise ValueError(f"not a valid host name: {host!r}") from e
    return host


def parse_allow(entries: Iterable[str]) -> Allow:
    rules: set[tuple[str, int | None]] = set()
    for entry in entries:
        text = entry.strip()
        port_text: str | None = None
        if text.startswith("["):
            host, sep, rest = text[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ValueError(f"fetch_allow entry {entry!r} is not a host or host:port")
            port_text = rest[1:] if rest else None
        elif text.count(":") == 1:
            host, port_text = text.split(":")
        else:
            host = text  # a name, an IPv4 address or a bare IPv6 address
        if not host or any(c in host for c in "/@?#\\ ") or (port_text is not None and not port_text.isdigit()):
            raise ValueError(f"fetch_allow entry {entry!r} is not a host or host:port")
        port = int(port_text) if port_text is not None else None
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"fetch_allow entry {entry!r} has an invalid port")
        rules.add((normalize_host(host), port))
    return frozenset(rules)


def allow_problem(entries: Iterable[str]) -> str | None:
    """Why ``[content] fetch_allow`` cannot be used as written (None: it can)."""
    try:
        parse_allow(entries)
    except ValueError as e:
        return str(e)
    return None


def is_allowed(host: str, port: int, rules: Allow) -> bool:
    if not rules:
        return False
    try:
        name = normalize_host(host)
    except ValueError:
        return False
    return (name, None) in rules or (name, port) in rules
