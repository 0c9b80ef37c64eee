"""A minimal webhook client: one POST over a plain HTTP/1.1 connection (``http://`` only)."""

from __future__ import annotations

from collections.abc import Iterable

import anyio

from hopx_proto import (
    NEED_DATA,
    BodyChunk,
    ConnectionClosed,
    EndOfMessage,
    HTTPConnection,
    Request,
    ResponseHead,
    Role,
)
from hopx_proto.wire import BaseURL

__all__ = ["WebhookError", "post_webhook"]

_MAX_REPLY = 1 << 20


class WebhookError(Exception):
    """The webhook could not be delivered."""


async def post_webhook(url: str, body: bytes, headers: Iterable[tuple[str, str]]) -> int:
    """POST ``body`` as JSON to ``url``; the status the receiver answered.

    The caller bounds the time taken (``anyio.fail_after``).
    """
    if not url.lower().startswith("http://"):
        raise WebhookError(f"only http:// callback URLs can be reached locally, not {url!r}")
    base = BaseURL.parse(url, what="callback_url")
    target = base.prefix or "/"
    _, _, query = url.partition("?")
    if query:
        target += "?" + query.split("#", 1)[0]
    request = Request(
        "POST",
        target,
        (
            ("host", base.host_header),
            ("content-type", "application/json"),
            ("user-agent", "hopx-local-agent"),
            ("connection", "close"),
            *headers,
        ),
        body,
    )
    conn = HTTPConnection(Role.CLIENT, max_body_size=_MAX_REPLY)
    async with await anyio.connect_tcp(base.host, base.port) as stream:
        await stream.send(conn.send_request(request))
        status: int | None = None
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                try:
                    data = await stream.receive(65536)
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    data = b""
                conn.receive_data(data)
                continue
            if isinstance(event, ResponseHead):
                status = event.status
            elif isinstance(event, BodyChunk):
                continue
            elif isinstance(event, EndOfMessage | ConnectionClosed):
                break
    if status is None:
        raise WebhookError("the callback closed the connection without answering")
    return status
