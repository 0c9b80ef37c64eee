"""Drive hopx_proto by hand: blocking sockets, ``selectors``, no async framework at all.

    hopx-local run -- python examples/custom_loop.py
    python -m hopx_local run -- python examples/custom_loop.py      (the same)

The base URL and API key come from ``HOPX_BASE_URL`` and ``HOPX_API_KEY``. The protocol core
never touches a socket: every machine takes bytes in and hands bytes back, so the whole I/O
layer of a client is the few functions below. Step by step:

1. A :class:`Link` is one TCP connection. It writes with ``sendall`` and reads only after the
   selector says the socket is readable, so every read has a deadline (``TIMEOUT``).
2. :func:`call` runs one operation of the table. ``op.encode(args, auth=..., base=...)``
   builds the :class:`~hopx_proto.Request` (method, target under the base URL, ``Host``,
   credential header, JSON body). An :class:`~hopx_proto.HTTPConnection` turns it into
   bytes and assembles the reply (``next_response()`` returns ``NEED_DATA`` until a whole
   response was fed to it), and ``op.decode(response)`` gives the typed result or raises
   the mapped error.
3. ``sandboxes.create`` answers with the agent's address (``public_host``) and a JWT; every
   agent call (``execute.run``) goes there with ``Authorization: Bearer <jwt>``.
4. :func:`stream` opens ``/execute/stream``. The ``execute.stream`` operation gives the
   upgrade's target and credential header; a :class:`~hopx_proto.WebSocket` does the
   handshake and framing; an :class:`~hopx_proto.ExecuteStreamClient` turns text frames into
   ``Stdout``/``Stderr``/``Result``/``Complete`` events. The first event is ``Accepted`` (a
   refused upgrade raises the mapped error instead); then we send the request message. Once
   ``complete`` came we send a close frame and wait for the peer's; ``finish()`` then raises
   if the stream ended early. Pings and the peer's close are answered by the machine: write
   ``ws.data_to_send()`` after each event.
5. ``sandboxes.delete`` kills the sandbox, also when something above failed.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys
from typing import Any

from hopx_proto import NEED_DATA, OPERATIONS, HTTPConnection, Role, TimeoutError
from hopx_proto.streams import (
    Accepted,
    BinaryMessage,
    CloseReceived,
    Complete,
    ExecuteStreamClient,
    ExecuteStreamRequest,
    Result,
    Stderr,
    Stdout,
    TextMessage,
    WebSocket,
)
from hopx_proto.wire import BaseURL

TIMEOUT = 30.0  # seconds any single read may wait
CODE = """\
import sys, time
for i in range(3):
    print("tick", i, flush=True)
    time.sleep(0.1)
print("oops", file=sys.stderr)
"""


class Link:
    """One blocking TCP connection whose reads wait on a selector, with a deadline."""

    def __init__(self, base: BaseURL) -> None:
        self.sock = socket.create_connection((base.host, base.port), timeout=TIMEOUT)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sock, selectors.EVENT_READ)

    def write(self, data: bytes) -> None:
        """Send every byte (blocking)."""
        self.sock.sendall(data)

    def read(self) -> bytes:
        """The next bytes from the peer; ``b""`` at EOF, as the machines expect it."""
        if not self.selector.select(TIMEOUT):
            raise TimeoutError(f"nothing received for {TIMEOUT} seconds")
        return self.sock.recv(65536)

    def close(self) -> None:
        """Drop the connection."""
        self.selector.close()
        self.sock.close()


def call(base: BaseURL, name: str, auth: str, **args: Any) -> Any:
    """Run operation ``name`` with ``args`` over a fresh connection; its decoded result."""
    op = OPERATIONS[name]
    request = op.encode(op.args(**args), auth=auth, base=base)
    http = HTTPConnection(Role.CLIENT)
    link = Link(base)
    try:
        link.write(http.send_request(request.with_headers(("connection", "close"))))
        while (reply := http.next_response()) is NEED_DATA:
            http.receive_data(link.read())
    finally:
        link.close()
    return op.decode(reply)


def stream(agent: BaseURL, token: str, code: str) -> dict[str, str]:
    """Run ``code`` over ``/execute/stream``, printing each event as it arrives; the output.

    Chunks are cut wherever the process flushed, not at line ends, so they are shown with
    ``repr`` and joined per stream at the end.
    """
    output = {"stdout": "", "stderr": ""}
    ws = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    machine = ExecuteStreamClient()
    link = Link(agent)
    try:
        op = OPERATIONS["execute.stream"]  # the upgrade's path and credential header
        upgrade = op.encode(op.args(), auth=token)
        link.write(ws.connect(agent, upgrade.target, headers=upgrade.headers))
        while True:
            event = ws.next_event()
            if event is NEED_DATA:
                ws.receive_data(link.read())
            elif isinstance(event, Accepted):
                link.write(ws.send_text(machine.start(ExecuteStreamRequest(code=code))))
            elif isinstance(event, TextMessage | BinaryMessage):
                frame = event.text if isinstance(event, TextMessage) else event.data
                for item in machine.receive(frame):
                    if isinstance(item, Stdout | Stderr):
                        output[item.TAG] += item.data
                        print(f"  stream {item.TAG}: {item.data!r}")
                    elif isinstance(item, Result | Complete):
                        print(f"  stream {item.TAG}: exit_code={item.exit_code}")
                    else:
                        print(f"  stream {item.TAG}: {dict(item)}")
                if machine.done:  # `complete` came: hang up politely
                    link.write(ws.send_close())
            elif isinstance(event, CloseReceived):
                link.write(ws.data_to_send())  # the reply to the peer's close, if any
                machine.finish()  # raises StreamEndedError if `complete` never came
                print(f"  stream closed ({event.code})")
                return output
            link.write(ws.data_to_send())  # a pong, when the event was a ping
    finally:
        link.close()


def main() -> int:
    """Create a sandbox, run code twice (plain and streamed), kill the sandbox."""
    base = BaseURL.parse(os.environ.get("HOPX_BASE_URL", ""), what="HOPX_BASE_URL")
    key = os.environ.get("HOPX_API_KEY", "")
    sandbox = call(base, "sandboxes.create", key, template_name="code-interpreter")
    print(f"created sandbox {sandbox.sandbox_id} ({sandbox.status}) at {sandbox.agent_base}")
    try:
        agent, token = BaseURL.parse(sandbox.agent_base), sandbox.auth_token or ""
        done = call(agent, "execute.run", token, code="print(6 * 7)")
        print(f"execute.run: exit_code={done.exit_code} stdout={done.stdout.strip()!r}")
        print("execute.stream:")
        output = stream(agent, token, CODE)
        print(f"streamed stdout={output['stdout']!r} stderr={output['stderr']!r}")
    finally:
        call(base, "sandboxes.delete", key, id=sandbox.sandbox_id)
        print(f"killed sandbox {sandbox.sandbox_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
