"""Our frame layer against wsproto's, on the same bytes.

Hypothesis writes streams of frames, valid and invalid, for either side to read, and cuts the
bytes anywhere. A :class:`WebSocket` of ours reads them in those pieces; wsproto's public
``wsproto.connection.Connection`` of the same role reads them frame by frame. Both must report
the same messages (wsproto's fragments joined), pings, pongs and close, and fail with the same
close code. What our automatic replies say is read back by a wsproto peer.

wsproto has no message size limit. The oracle adds ours on top of it, from the headers the test
wrote: a data frame whose announced length takes its message over the limit fails with 1009
once its header is read, unless wsproto finds the header itself wrong, or the frame out of
order (a continuation outside a message, a new message inside one: 1002).

A stream may end inside a frame (then EOF). Our reader may then fail sooner than wsproto, which
waits for payload before it checks a frame's order: such a failure must be the one wsproto
reports once that frame's payload starts to arrive.
"""

from __future__ import annotations

import itertools
import operator
import os
import struct
from collections.abc import Sequence

import attrs
import hypothesis
import pytest
import wsproto.events as wse
from hypothesis import given, settings, strategies as st
from test_ws import BASE, KEY
from wsproto.connection import Connection, ConnectionState, ConnectionType

from hopx_proto._errors import RemoteProtocolError
from hopx_proto._http import NEED_DATA, Role
from hopx_proto._ws import (
    BinaryMessage,
    CloseReceived,
    Ping,
    Pong,
    TextMessage,
    UpgradeRequest,
    WebSocket,
)

# What a reader reports, in a form both sides can be put in: ("text", str), ("binary", bytes),
# ("ping", bytes), ("pong", bytes); and how the stream ended: ("close", code, reason),
# ("eof",) for EOF without a close frame, ("error", close_code).
Report = tuple[object, ...]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DATA_OPCODES = (CONTINUATION, TEXT, BINARY)

BAD_UTF8 = [
    b"\xff",  # never valid
    b"\x80",  # a continuation byte alone
    b"\xc0\xaf",  # overlong
    b"\xed\xa0\x80",  # a surrogate
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xe2\x82",  # cut short (invalid at the end of a message, fine inside a fragment)
]
VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013]
VALID_CLOSE_CODES += [3000, 3999, 4000, 4999]
INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 2000, 2999, 5000, 65535]
LIMITS = [40, 300, 1 << 20]


# ---------------------------------------------------------------------------------------------
# Frames, written by hand from a description (never by the code under test)


@attrs.frozen
class Frame:
    """One frame on the wire. ``length_form`` "min" is the shortest length encoding; "16" and
    "64" force a longer one, "msb" sets the top bit of a 64-bit length. ``announced`` (a frame
    that never ends) declares that length while no payload follows."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0
    masked: bool = False
    mask_key: bytes = b"\x00\x00\x00\x00"
    length_form: str = "min"
    announced: int | None = None

    @property
    def length(self) -> int:
        return len(self.payload) if self.announced is None else self.announced

    def header(self) -> bytes:
        n = self.length
        first = bytes([(0x80 if self.fin else 0) | (self.rsv << 4) | self.opcode])
        bit = 0x80 if self.masked else 0
        form = self.length_form
        if form == "min":
            form = "7" if n < 126 else "16" if n < 1 << 16 else "64"
        if form == "7":
            head = first + bytes([bit | n])
        elif form == "16":
            head = first + bytes([bit | 126]) + struct.pack("!H", n)
        else:
            top = 1 << 63 if form == "msb" else 0
            head = first + bytes([bit | 127]) + struct.pack("!Q", n | top)
        return head + (self.mask_key if self.masked else b"")

    def body(self, payload: bytes | None = None) -> bytes:
        data = self.payload if payload is None else payload
        if not self.masked:
            return data
        return bytes(map(operator.xor, data, itertools.cycle(self.mask_key)))

    def wire(self) -> bytes:
        return self.header() + self.body()


def _split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)] or [b""]


@st.composite
def text_payloads(draw: st.DrawFn, max_size: int = 80) -> bytes:
    data = draw(st.text(max_size=max_size)).encode()
    if draw(st.integers(0, 7)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(BAD_UTF8)) + data[at:]
    return data


@st.composite
def data_payloads(draw: st.DrawFn, text: bool) -> bytes:
    kind = draw(st.sampled_from(["small", "small", "small", "medium", "large"]))
    if kind == "large":  # a 64-bit length
        return b"a" * draw(st.integers(1 << 16, (1 << 16) + 300))
    if text:
        return draw(text_payloads(max_size=80 if kind == "small" else 250))
    return draw(st.binary(max_size=120 if kind == "small" else 400))


@st.composite
def control_frames(draw: st.DrawFn) -> Frame:
    opcode = draw(st.sampled_from([PING, PING, PONG, CLOSE]))
    if opcode != CLOSE:
        size = draw(st.sampled_from([0, 5, 5, 5, 17, 17, 125, 126]))  # 126: over the limit
        return Frame(opcode, draw(st.binary(min_size=size, max_size=size)))
    kind = draw(
        st.sampled_from(["code"] * 6 + ["none", "none", "bad code", "one byte", "bad reason"])
    )
    if kind == "none":
        return Frame(CLOSE)
    if kind == "one byte":
        return Frame(CLOSE, b"\x03")
    code = draw(st.sampled_from(INVALID_CLOSE_CODES if kind == "bad code" else VALID_CLOSE_CODES))
    reason = draw(st.text(max_size=40)).encode()[:123]
    if kind == "bad reason":
        reason = reason[:100] + draw(st.sampled_from(BAD_UTF8))
    elif draw(st.integers(0, 9)) == 0:
        reason = b"r" * 124  # a close payload over 125 bytes
    return Frame(CLOSE, struct.pack("!H", code) + reason)


@st.composite
def messages(draw: st.DrawFn) -> list[Frame]:
    """One message in 1 to 4 fragments (cut anywhere, UTF-8 sequences too), with control
    frames between them."""
    text = draw(st.booleans())
    payload = draw(data_payloads(text))
    pieces = _split(payload, draw(st.lists(st.integers(0, 1 << 17), max_size=3)))
    out: list[Frame] = []
    for i, piece in enumerate(pieces):
        if i and draw(st.integers(0, 3)) == 0:
            out.append(draw(control_frames()))
        first = TEXT if text else BINARY
        out.append(Frame(first if i == 0 else CONTINUATION, piece, fin=i == len(pieces) - 1))
    return out


@st.composite
def raw_frames(draw: st.DrawFn) -> Frame:
    return Frame(draw(st.integers(0, 15)), draw(st.binary(max_size=130)), fin=draw(st.booleans()))


@st.composite
def mutated(draw: st.DrawFn, frame: Frame) -> Frame:
    """The frame with one rule broken (or its length written in a longer form)."""
    how = draw(st.sampled_from(["rsv", "mask", "16", "64", "msb", "fin", "opcode"]))
    if (how == "16" and frame.length >= 126) or (how == "64" and frame.length >= 1 << 16):
        how = "msb"  # that form is the shortest one for this length: break another rule
    if how == "rsv":
        return attrs.evolve(frame, rsv=draw(st.integers(1, 7)))
    if how == "mask":
        return attrs.evolve(frame, masked=not frame.masked)
    if how in ("16", "64", "msb"):
        return attrs.evolve(frame, length_form=how)
    if how == "fin":
        return attrs.evolve(frame, fin=not frame.fin)
    return attrs.evolve(frame, opcode=draw(st.integers(0, 15)))


@attrs.frozen
class Case:
    role_client: bool  #: True: the frames are a server's, read by our client
    frames: tuple[Frame, ...]
    limit: int
    cuts: tuple[int, ...]  #: where our reader's pieces end
    end: int | None  #: where the stream stops before EOF (``None``: after the last frame)

    @property
    def wire(self) -> bytes:
        return b"".join(f.wire() for f in self.frames)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    role_client = draw(st.booleans())
    frames: list[Frame] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["message"] * 6 + ["control"] * 3 + ["raw"]))
        if kind == "message":
            frames += draw(messages())
        elif kind == "control":
            frames.append(draw(control_frames()))
        else:
            frames.append(draw(raw_frames()))
    # Mask as the reading side expects (a client reads unmasked frames, a server masked ones).
    frames = [
        attrs.evolve(f, masked=not role_client, mask_key=draw(st.binary(min_size=4, max_size=4)))
        for f in frames
    ]
    if frames and draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(frames) - 1))
        frames[at] = draw(mutated(frames[at]))
    if draw(st.integers(0, 7)) == 0:  # a last frame announcing more than any limit allows
        opcode = draw(st.sampled_from([TEXT, BINARY, CONTINUATION]))
        announced = draw(st.integers((1 << 20) + 1, 1 << 62))
        key = draw(st.binary(min_size=4, max_size=4))
        frames.append(Frame(opcode, masked=not role_client, mask_key=key, announced=announced))
    wire_size = sum(len(f.wire()) for f in frames)
    end = None
    if frames and draw(st.integers(0, 3)) == 0:
        end = draw(st.integers(0, wire_size))
    return Case(
        role_client,
        tuple(frames),
        draw(st.sampled_from(LIMITS)),
        tuple(draw(st.lists(st.integers(0, wire_size + 1), max_size=8))),
        end,
    )


# ---------------------------------------------------------------------------------------------
# The two readers


@attrs.define
class Outcome:
    events: list[Report] = attrs.Factory(list)
    end: Report | None = None


def _handshake_bytes() -> tuple[bytes, bytes]:
    client = WebSocket(Role.CLIENT, random_bytes=os.urandom)
    server = WebSocket(Role.SERVER)
    request = client.connect(BASE, "/execute/stream", key=KEY)
    server.receive_data(request)
    assert isinstance(server.next_event(), UpgradeRequest)
    return request, server.accept()


REQUEST, REPLY = _handshake_bytes()


def opened(role_client: bool, limit: int) -> WebSocket:
    """An open WebSocket of ours on the reading side."""
    if role_client:
        ws = WebSocket(Role.CLIENT, random_bytes=os.urandom, max_message_size=limit)
        ws.connect(BASE, "/execute/stream", key=KEY)
        ws.receive_data(REPLY)
    else:
        ws = WebSocket(Role.SERVER, max_message_size=limit)
        ws.receive_data(REQUEST)
        assert isinstance(ws.next_event(), UpgradeRequest)
        ws.accept()
    assert ws.next_event() is NEED_DATA or role_client
    return ws


def run_ours(case: Case) -> tuple[Outcome, bytes]:
    """Our reader on the case's bytes, in its pieces; also the replies it queued."""
    ws = opened(case.role_client, case.limit)
    wire = case.wire if case.end is None else case.wire[: case.end]
    out = Outcome()
    replies = b""
    try:
        for piece in [*_split(wire, case.cuts), b""]:
            ws.receive_data(piece)
            while out.end is None and (event := ws.next_event()) is not NEED_DATA:
                if isinstance(event, TextMessage):
                    out.events.append(("text", event.text))
                elif isinstance(event, BinaryMessage):
                    out.events.append(("binary", event.data))
                elif isinstance(event, Ping | Pong):
                    out.events.append((type(event).__name__.lower(), event.payload))
                elif isinstance(event, CloseReceived):
                    closed_by_eof = event.code == 1006
                    out.end = ("eof",) if closed_by_eof else ("close", event.code, event.reason)
                else:
                    raise AssertionError(f"unexpected event {event!r}")
                replies += ws.data_to_send()
            if out.end is not None:
                break
    except RemoteProtocolError as exc:
        out.end = ("error", exc.close_code)
        replies += ws.data_to_send()
    return out, replies


class Oracle:
    """wsproto's connection, with fragments joined, and our message size limit on top."""

    def __init__(self, role_client: bool, limit: int) -> None:
        self.conn = Connection(ConnectionType.CLIENT if role_client else ConnectionType.SERVER)
        self.limit = limit
        self.out = Outcome()
        self.in_message = False  # wsproto's last data event left its message unfinished
        self.message_size = 0  # payload bytes the current message's headers announced
        self._parts: list[str | bytes] = []

    def feed(self, data: bytes | None) -> None:
        if self.out.end is not None or data == b"":
            return
        self.conn.receive_data(data)
        for event in self.conn.events():
            self._take(event)
            if self.out.end is not None:
                return

    def _take(self, event: wse.Event) -> None:
        if isinstance(event, wse.TextMessage | wse.BytesMessage):
            self._parts.append(event.data)
            self.in_message = not event.message_finished
            if event.message_finished:
                if isinstance(event, wse.TextMessage):
                    self.out.events.append(("text", "".join(map(str, self._parts))))
                else:
                    joined = b"".join(bytes(p) for p in self._parts if isinstance(p, bytes))
                    self.out.events.append(("binary", joined))
                self._parts = []
        elif isinstance(event, wse.Ping):
            self.out.events.append(("ping", bytes(event.payload)))
        elif isinstance(event, wse.Pong):
            self.out.events.append(("pong", bytes(event.payload)))
        elif isinstance(event, wse.CloseConnection):
            if event.code == 1006 and self.conn.state is ConnectionState.CLOSED:
                self.out.end = ("eof",)  # what wsproto reports for receive_data(None)
            elif self.conn.state is ConnectionState.REMOTE_CLOSING:
                self.out.end = ("close", int(event.code), event.reason or "")
            else:  # a parse failure: wsproto reports it as a close event, its state unchanged
                self.out.end = ("error", int(event.code))
        else:
            raise AssertionError(f"unexpected wsproto event {event!r}")

    def frame(self, frame: Frame, available: int | None, complete: bool = False) -> None:
        """Feed ``frame``, or only its first ``available`` bytes. ``complete`` gives a frame
        that announced more than it carries a first payload byte (a NUL)."""
        wire = frame.wire()
        head = len(frame.header())
        if available is not None and available < len(wire):
            wire = wire[:available]
        if frame.opcode not in DATA_OPCODES or len(wire) < head:
            self.feed(wire)
            return
        self.feed(wire[:head])  # wsproto checks the header once it has all of it
        if self.out.end is not None:
            return
        if (frame.opcode == CONTINUATION) == self.in_message:  # in order: the limit applies
            if frame.opcode == CONTINUATION:
                self.message_size += frame.length
            else:
                self.message_size = frame.length
            if self.message_size > self.limit:
                self.out.end = ("error", 1009)
                return
        rest = wire[head:]
        if complete and frame.announced is not None:
            rest = frame.body(b"\x00")
        self.feed(rest)


def run_oracle(case: Case, frames: Sequence[Frame] | None = None) -> Outcome:
    """wsproto on the case's stream (cut at ``case.end``), frame by frame, then EOF.

    With ``frames`` given, those frames are fed whole instead (and no EOF), to see what
    wsproto says of a frame once its payload arrives."""
    oracle = Oracle(case.role_client, case.limit)
    if frames is not None:
        for frame in frames:
            oracle.frame(frame, None, complete=True)
        return oracle.out
    pos = 0
    for frame in case.frames:
        size = len(frame.wire())
        if case.end is not None and case.end < pos + size:
            oracle.frame(frame, case.end - pos)
            break
        oracle.frame(frame, None)
        pos += size
    oracle.feed(None)
    return oracle.out


def _frame_at(case: Case, offset: int) -> int:
    """Index of the frame that holds byte ``offset`` of the wire (the last one for the end)."""
    pos = 0
    for i, frame in enumerate(case.frames):
        pos += len(frame.wire())
        if offset < pos:
            return i
    return len(case.frames) - 1


def _expected_replies(case: Case, ours: Outcome, replies: bytes) -> None:
    """Our replies, read by a wsproto peer: a pong per ping, then the close echoed."""
    peer = Connection(ConnectionType.SERVER if case.role_client else ConnectionType.CLIENT)
    peer.receive_data(replies)
    got: list[Report] = []
    for event in peer.events():
        if isinstance(event, wse.Pong):
            got.append(("pong", bytes(event.payload)))
        elif isinstance(event, wse.CloseConnection):
            got.append(("close", int(event.code)))
        else:
            raise AssertionError(f"unexpected reply {event!r}")
    want: list[Report] = [("pong", e[1]) for e in ours.events if e[0] == "ping"]
    if ours.end is not None and ours.end[0] == "close":
        want.append(("close", ours.end[1]))
    assert got == want


def _label(case: Case, expected: Outcome) -> None:
    """What the case holds, for ``--hypothesis-show-statistics``."""
    hypothesis.event("client reads" if case.role_client else "server reads")
    assert expected.end is not None
    kind = expected.end[0]
    hypothesis.event(f"ends in {kind} {expected.end[1]}" if kind == "error" else f"ends in {kind}")
    hypothesis.event("stops inside a frame" if case.end is not None else "stops after its frames")
    for frame in case.frames:
        name = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
        hypothesis.event(f"has {name.get(frame.opcode, 'reserved opcode')} frames")
        hypothesis.event(f"has {'fragments' if not frame.fin else 'final frames'}")
        if frame.announced is not None:
            hypothesis.event("has a frame announcing more than the limit")
        if frame.rsv or frame.length_form != "min":
            hypothesis.event("has a malformed header")


def check(case: Case) -> bool:
    """Our reader agrees with the oracle on ``case``. True if it failed sooner (see above)."""
    ours, replies = run_ours(case)
    expected = run_oracle(case)
    _expected_replies(case, ours, replies)
    if (ours.events, ours.end) == (expected.events, expected.end):
        return False
    # Only a stream that stops inside a frame may differ: we may fail on that frame's header,
    # order or size before its payload arrives. Then the failure must be the one wsproto
    # reports once the payload is there, after the same events.
    stops_inside = case.end is not None or (case.frames and case.frames[-1].announced is not None)
    assert stops_inside, (ours, expected)
    cut = _frame_at(case, case.end) if case.end is not None else len(case.frames) - 1
    completed = run_oracle(case, case.frames[: cut + 1])
    assert ours.end is not None
    assert ours.end[0] == "error", (ours, expected)
    assert (ours.events, ours.end) == (completed.events, completed.end), (ours, completed)
    return True


def check_all(role_client: bool, frames: Sequence[Frame], limit: int = 300) -> None:
    """``check`` on ``frames`` masked as the reading side expects, read whole and byte by
    byte."""
    key = b"\x9b\x01\xfe\x40"
    framed = tuple(attrs.evolve(f, masked=not role_client, mask_key=key) for f in frames)
    size = sum(len(f.wire()) for f in framed)
    for cuts in ((), tuple(range(size))):
        check(Case(role_client, framed, limit, cuts, None))


ROLES = pytest.mark.parametrize("role_client", [True, False], ids=["client", "server"])


# ---------------------------------------------------------------------------------------------
# The properties


@settings(max_examples=400, deadline=None)
@given(case=cases())
def test_ours_reads_every_stream_as_wsproto_does(case: Case) -> None:
    expected = run_oracle(case)
    _label(case, expected)
    if check(case):
        hypothesis.event("we fail on a frame before its payload, as wsproto does after")


# ---------------------------------------------------------------------------------------------
# Small domains, all of them


@ROLES
def test_every_first_byte_and_mask_bit(role_client: bool) -> None:
    """FIN, the RSV bits and every opcode, masked as the side expects and not."""
    for b0 in range(256):
        frame = Frame(b0 & 0x0F, b"a", fin=b0 >= 0x80, rsv=(b0 >> 4) & 7)
        check_all(role_client, [frame])
        for wrong in (True, False):
            flipped = attrs.evolve(frame, masked=wrong, mask_key=b"\x01\x02\x03\x04")
            check(Case(role_client, (flipped,), 300, (), None))


LENGTHS = [(n, "min") for n in (0, 1, 125, 126, 65535, 65536)]
LENGTHS += [(0, "16"), (125, "16"), (0, "64"), (126, "64"), (65535, "64"), (0, "msb"), (5, "msb")]


@ROLES
@pytest.mark.parametrize("opcode", [TEXT, BINARY, PING, CLOSE])
def test_every_length_form(role_client: bool, opcode: int) -> None:
    """Each length encoding at its edges, shortest or not, under and over the limits."""
    for n, form in LENGTHS:
        payload = b"\x03\xe8" + b"a" * (n - 2) if opcode == CLOSE and n >= 2 else b"a" * n
        for limit in (125, 1 << 20):
            frame = Frame(opcode, payload, length_form=form)
            key = b"\x9b\x01\xfe\x40"
            framed = (attrs.evolve(frame, masked=not role_client, mask_key=key),)
            check(Case(role_client, framed, limit, (), None))
            check(Case(role_client, framed, limit, (3, 7, 130), None))


@ROLES
def test_every_close_code(role_client: bool) -> None:
    """Codes 0-5100 and 65535; a payload of 1 byte; reasons good, bad and too long."""
    for code in [*range(5101), 65535]:
        check(
            Case(
                role_client,
                (Frame(CLOSE, struct.pack("!H", code), masked=not role_client),),
                300,
                (),
                None,
            )
        )
    payloads = [b"", b"\x03", b"\xe8", struct.pack("!H", 1000) + "é".encode()]
    payloads += [struct.pack("!H", 4000) + bad for bad in BAD_UTF8]
    payloads += [struct.pack("!H", 1001) + b"r" * 123, struct.pack("!H", 1001) + b"r" * 124]
    for payload in payloads:
        check_all(role_client, [Frame(CLOSE, payload)])


UTF8_TEXTS = ["", "a", "é", "€", "𝄞", "aé€𝄞z", "\u0800\uffff\U00010000\U0010ffff"]


@ROLES
def test_utf8_cut_at_every_byte(role_client: bool) -> None:
    """Text with multi-byte characters, and with each bad sequence at its start, middle and
    end, sent whole and in two fragments cut at every byte."""
    payloads = [t.encode() for t in UTF8_TEXTS]
    for bad in BAD_UTF8:
        payloads += [bad + "é€".encode(), "é".encode() + bad + b"a", "€".encode() + bad]
    for payload in payloads:
        check_all(role_client, [Frame(TEXT, payload)])
        for at in range(len(payload) + 1):
            pieces = [Frame(TEXT, payload[:at], fin=False), Frame(CONTINUATION, payload[at:])]
            check_all(role_client, pieces)


@ROLES
def test_every_order_of_three_data_frames(role_client: bool) -> None:
    """Text, binary and continuation frames, final or not, three in a row, with and without a
    ping between the first two."""
    kinds = [(op, fin) for op in DATA_OPCODES for fin in (True, False)]
    for length in (1, 2, 3):
        for combo in itertools.product(kinds, repeat=length):
            frames = [Frame(op, b"xy", fin=fin) for op, fin in combo]
            check_all(role_client, frames)
            check_all(role_client, [frames[0], Frame(PING, b"p"), *frames[1:]])


@ROLES
@pytest.mark.parametrize("limit", [40, 300])
def test_message_sizes_around_the_limit(role_client: bool, limit: int) -> None:
    for size in (limit - 1, limit, limit + 1):
        payload = b"z" * size
        for at in (0, 1, size // 2, size):
            for first in (TEXT, BINARY):
                pieces = [Frame(first, payload[:at], fin=False), Frame(CONTINUATION, payload[at:])]
                check_all(role_client, pieces, limit)
                check_all(role_client, [Frame(first, payload)], limit)


@pytest.mark.parametrize(
    ("frames", "end"),
    [
        # Each failure mode by hand, so that a regression names itself.
        ([Frame(TEXT, b"\xff")], ("error", 1007)),
        ([Frame(TEXT, b"a" * 41)], ("error", 1009)),
        ([Frame(TEXT, b"\xff" + b"a" * 40)], ("error", 1009)),  # the size first, however cut
        ([Frame(BINARY, b"a" * 30, fin=False), Frame(CONTINUATION, b"a" * 11)], ("error", 1009)),
        ([Frame(TEXT, b"\xe2\x82", fin=False), Frame(CONTINUATION, b"\xac")], ("eof",)),
        ([Frame(TEXT, b"a", fin=False), Frame(CONTINUATION, b"\xe2\x82")], ("error", 1007)),
        ([Frame(CONTINUATION, b"x")], ("error", 1002)),
        ([Frame(TEXT, b"x", fin=False), Frame(BINARY, b"y")], ("error", 1002)),
        ([Frame(CLOSE, struct.pack("!H", 1005))], ("error", 1002)),
        ([Frame(CLOSE, struct.pack("!H", 1014))], ("error", 1002)),
        ([Frame(CLOSE, b"\x03")], ("error", 1002)),
        ([Frame(CLOSE, struct.pack("!H", 1000) + b"\xff")], ("error", 1007)),
        ([Frame(CLOSE, struct.pack("!H", 4999) + b"bye")], ("close", 4999, "bye")),
        ([Frame(CLOSE, fin=False)], ("error", 1002)),
        ([Frame(PING, b"p" * 126)], ("error", 1002)),
        ([Frame(TEXT, b"x", rsv=1)], ("error", 1002)),
        ([Frame(TEXT, b"x" * 125, length_form="16")], ("error", 1002)),
        ([Frame(TEXT, b"x", length_form="64")], ("error", 1002)),
        ([Frame(TEXT, b"x", length_form="msb")], ("error", 1002)),
        ([Frame(3)], ("error", 1002)),
        ([Frame(TEXT, announced=1 << 40)], ("error", 1009)),
        ([Frame(CONTINUATION, announced=1 << 40)], ("error", 1002)),
    ],
)
@ROLES
def test_hand_picked_streams(frames: list[Frame], end: Report, role_client: bool) -> None:
    frames = [attrs.evolve(f, masked=not role_client, mask_key=b"\x12\x34\x56\x78") for f in frames]
    case = Case(role_client, tuple(frames), 40, (), None)
    size = len(case.wire)
    for cuts in ((), tuple(range(size)), (size - 1,)):  # whole, byte by byte, all but the last
        ours, _ = run_ours(attrs.evolve(case, cuts=cuts))
        assert ours.end == end, cuts
    if frames[-1].announced is None:
        assert run_oracle(case).end == end
    else:
        assert run_oracle(case, frames).end == end
