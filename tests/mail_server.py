"""A real SMTP server for the tests (aiosmtpd, in a thread of its own, on a free local port)
that keeps every message it receives."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

# aiosmtpd's own log names every sender and recipient: not the app's lines, kept out of the scan.
logging.getLogger("mail.log").setLevel(logging.WARNING)

LINK = re.compile(r"https?://\S+/#/(?:restablecer|verificar)/([A-Za-z0-9_-]{43,})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class MailServer:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1, seconds: float = 15) -> list[EmailMessage]:
        """The messages to ``address`` once there are ``count`` of them (the UI's server sends
        after answering)."""
        deadline = time.monotonic() + seconds
        while len(self.to(address)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        found = self.to(address)
        assert len(found) >= count, f"{len(found)} of {count} emails to {address}"
        return found

    def settings(self) -> dict[str, Any]:
        """The settings overrides of an app that sends through this server."""
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_starttls": False,
            "mail_from": "energyapp@alvaradomazzei.cl",
            "public_url": "https://energyapp.example.cl",
        }


def link_token(message: EmailMessage) -> str:
    """The token of the one link in a message's text."""
    body = message.get_body(("plain",))
    assert body is not None
    (token,) = LINK.findall(body.get_content())
    return str(token)


@contextmanager
def running_mail_server() -> Iterator[MailServer]:
    server = MailServer(free_port())
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
