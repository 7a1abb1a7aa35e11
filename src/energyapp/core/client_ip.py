"""The client's IP address, trusting X-Forwarded-For only from configured proxies."""

from __future__ import annotations

import ipaddress

from starlette.requests import Request


def client_ip(request: Request, trusted_proxies: list[str]) -> str:
    peer = request.client.host if request.client else "unknown"
    if peer not in trusted_proxies:
        return peer
    forwarded = request.headers.get("x-forwarded-for")
    if not forwarded:
        return peer
    # Walk from the right: the first address not belonging to a trusted proxy is the client.
    for candidate in reversed([p.strip() for p in forwarded.split(",") if p.strip()]):
        if candidate in trusted_proxies:
            continue
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            return peer
        # A zone ("fe80::1%eth0") names an interface of the host that wrote it, not a client,
        # and its text is unbounded: only a plain address is a client's (at most 39 characters).
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
            return peer
        return str(address)
    return peer


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:300]


# Headers a reverse proxy adds: a request carrying one was relayed for someone else.
_FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def is_direct_local(request: Request) -> bool:
    """True for a connection from this machine's loopback interface that relays no one else's
    request (Caddy, on the same host, always adds X-Forwarded-For)."""
    peer = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_loopback:
        return False
    return not any(name in request.headers for name in _FORWARDING_HEADERS)
