"""Throughput of an ``/execute/stream`` session: wsproto alone against our full stack.

Builds a recorded-style session as the bytes a client reads (server frames: many ``stdout``
chunks, a ``result``, a ``complete``), then, in one run and side by side, measures:

(a) wsproto alone: ``wsproto.connection.Connection`` turning the bytes into text messages;
(b) ours: :class:`hopx_proto._ws.WebSocket` plus :class:`ExecuteStreamClient` turning the same
    bytes into typed events.

Both read the bytes in the same chunks (64 KiB, like a socket read). Prints the median of N
repeats for each (events/s, MB/s) and the ratio of their times.

    .venv/bin/python bench/stream_throughput.py [--messages 20000] [--repeats 9]
                                                [--stdout-bytes 65536 --messages 256]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage as WsprotoText

from hopx_proto._http import NEED_DATA, Role
from hopx_proto._streams import ExecuteStreamClient, ExecuteStreamRequest, Stdout
from hopx_proto._url import BaseURL
from hopx_proto._ws import Accepted, TextMessage, WebSocket

CHUNK = 64 * 1024


def build_session(messages: int, stdout_bytes: int = 0) -> tuple[bytes, list[str]]:
    """The server's frames of one session, as bytes, and the texts they carry.

    Each ``stdout`` message is one short log line, or ``stdout_bytes`` of 1 KiB lines when
    that is set (a program printing a lot, as the agent forwards it in big chunks).
    """
    server = _open_pair()[1]
    texts = []
    big = ("x" * 1023 + "\n") * (stdout_bytes // 1024)
    for i in range(messages):
        line = big or f"step {i}: processed {i * 37 % 1000} rows in {(i % 17) / 10:.1f} ms\n"
        texts.append(
            json.dumps({"type": "stdout", "data": line, "timestamp": "2026-11-27T03:38:57Z"})
        )
    texts.append(json.dumps({"type": "result", "exit_code": 0, "execution_time": 1.25}))
    texts.append(json.dumps({"type": "complete", "success": True, "exit_code": 0}))
    data = b"".join(server.send_text(text) for text in texts)
    return data, texts


def _open_pair() -> tuple[WebSocket, WebSocket]:
    client = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    server = WebSocket(Role.SERVER)
    server.receive_data(client.connect(BaseURL.parse("http://127.0.0.1:1"), "/execute/stream"))
    server.next_event()
    client.receive_data(server.accept())
    assert isinstance(client.next_event(), Accepted)
    return client, server


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def run_wsproto(pieces: list[bytes]) -> int:
    """wsproto alone: bytes -> whole text messages."""
    conn = Connection(ConnectionType.CLIENT)
    count = 0
    partial: list[str] = []
    for piece in pieces:
        conn.receive_data(piece)
        for event in conn.events():
            if isinstance(event, WsprotoText):
                if not event.message_finished:
                    partial.append(event.data)
                    continue
                text = "".join([*partial, event.data]) if partial else event.data
                partial.clear()
                count += 1 if text else 0
    return count


def run_ours(pieces: list[bytes]) -> int:
    """Ours: bytes -> WebSocket messages -> typed /execute/stream events."""
    ws = _open_pair()[0]
    stream = ExecuteStreamClient()
    stream.start(ExecuteStreamRequest("print(1)"))
    count = 0
    for piece in pieces:
        ws.receive_data(piece)
        while True:
            event = ws.next_event()
            if event is NEED_DATA:
                break
            if isinstance(event, TextMessage):
                count += len(stream.receive(event.text))
    stream.finish()
    return count


def run_ours_ws_only(pieces: list[bytes]) -> int:
    """Ours, first layer only: bytes -> WebSocket text messages (shows where time goes)."""
    ws = _open_pair()[0]
    count = 0
    for piece in pieces:
        ws.receive_data(piece)
        while True:
            event = ws.next_event()
            if event is NEED_DATA:
                break
            if isinstance(event, TextMessage):
                count += 1
    return count


def _first_event(pieces: list[bytes]) -> object:
    ws = _open_pair()[0]
    stream = ExecuteStreamClient()
    stream.start(ExecuteStreamRequest("print(1)"))
    event = ws.next_event()
    for piece in pieces:
        if event is not NEED_DATA:
            break
        ws.receive_data(piece)
        event = ws.next_event()
    assert isinstance(event, TextMessage)
    return stream.receive(event.text)[0]


def timed(fn: Callable[[list[bytes]], int], pieces: list[bytes]) -> tuple[float, int]:
    start = time.perf_counter()
    count = fn(pieces)
    return time.perf_counter() - start, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--target", type=float, default=1.30, help="maximum time ratio")
    parser.add_argument(
        "--stdout-bytes", type=int, default=0, help="bytes per stdout message (default: one line)"
    )
    args = parser.parse_args(argv)

    data, texts = build_session(args.messages, args.stdout_bytes)
    pieces = chunks(data)
    expected = len(texts)
    # Check once that both sides see the whole session, and that ours types it.
    assert run_wsproto(pieces) == expected
    assert run_ours(pieces) == expected
    assert isinstance(_first_event(pieces), Stdout)

    runs = (("wsproto", run_wsproto), ("ours", run_ours), ("ours_ws", run_ours_ws_only))
    times: dict[str, list[float]] = {name: [] for name, _ in runs}
    for _ in range(args.repeats):  # interleaved, so drift hits all alike
        for name, fn in runs:
            elapsed, count = timed(fn, pieces)
            assert count == expected
            times[name].append(elapsed)

    megabytes = len(data) / 1e6
    print(f"session: {expected} messages, {megabytes:.2f} MB, read in {CHUNK // 1024} KiB chunks")
    print(f"repeats: {args.repeats} (medians shown)")
    medians = {name: statistics.median(values) for name, values in times.items()}
    labels = (
        ("wsproto", "(a) wsproto alone"),
        ("ours", "(b) WebSocket+stream"),
        ("ours_ws", "    of which WebSocket"),
    )
    for name, label in labels:
        t = medians[name]
        print(
            f"{label:24s} {t * 1000:8.2f} ms  {expected / t:12,.0f} events/s  "
            f"{megabytes / t:8.2f} MB/s"
        )
    ratio = medians["ours"] / medians["wsproto"]
    if args.stdout_bytes:
        # Big messages: (b) is mostly json.loads of the payload, which (a) does not do.
        print(f"ratio (b)/(a): {ratio:.3f}")
        return 0
    print(
        f"ratio (b)/(a): {ratio:.3f}  (target <= {args.target:.2f}: "
        f"{'met' if ratio <= args.target else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
