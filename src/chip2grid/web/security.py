"""What keeps the dashboard local and bounded: loopback binding, request-body cap, host check."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from chip2grid.errors import InvalidParameterError

MAX_BODY_BYTES = 1_000_000
"""Request bodies larger than this are refused with 413 (a scenario is a few kB)."""
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RemoteHostError(InvalidParameterError):
    """``chip2grid serve`` was asked to listen beyond this machine without ``--allow-remote``."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_host(host: str, *, allow_remote: bool) -> None:
    """Refuse a host other than loopback unless ``allow_remote``.

    Raises
    ------
    RemoteHostError
        Naming the host and how to allow it.
    """
    if not is_loopback(host) and not allow_remote:
        raise RemoteHostError(
            "--host",
            host,
            "a loopback address (127.0.0.1, ::1 or localhost)",
            "The dashboard has no authentication; pass --allow-remote to listen on other "
            "interfaces anyway (e.g. behind an authenticating proxy).",
        )


class BodySizeLimit:
    """ASGI middleware: 413 when a request body exceeds ``max_bytes``.

    Checks the declared ``Content-Length`` first, then counts the bytes of streamed (chunked)
    bodies as they arrive, so a missing or false header does not get around it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._refuse(send)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"request body over {self.max_bytes:,} bytes; send a smaller scenario"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
