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
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            return peer
    return peer


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:300]
