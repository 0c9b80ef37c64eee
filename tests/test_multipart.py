"""The multipart codec: round trips under any chunking, malformed input, and interoperability
with the bytes the service's official client, httpx and the standard library produce."""

from __future__ import annotations

import itertools
import json
import pathlib
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from hopx_proto._errors import LocalProtocolError, RemoteProtocolError
from hopx_proto._http import NEED_DATA
from hopx_proto._multipart import (
    Done,
    MultipartDecoder,
    MultipartEncoder,
    Part,
    PartData,
    PartEnd,
    PartStart,
    StreamSlot,
    decode_multipart,
    encode_multipart,
    parse_header_params,
)

TRACES = (
    pathlib.Path(__file__).parent.parent.parent / "shared" / "spec" / "official-client-traces.jsonl"
)
CT = "multipart/form-data; boundary=xyz"


def feed(content_type: str | bytes, chunks: list[bytes], **limits: int) -> list[Any]:
    """Every event for a body delivered in ``chunks``, then EOF."""
    decoder = MultipartDecoder(content_type, **limits)
    events: list[Any] = []
    for chunk in [*chunks, b""]:
        decoder.receive_data(chunk)
        while True:
            event = decoder.next_event()
            if event is NEED_DATA:
                break
            events.append(event)
            if isinstance(event, Done):
                return events
    raise AssertionError("EOF without Done or an error")


def collect(events: list[Any]) -> list[tuple[str, str | None, str | None, bytes]]:
    """Events folded into (name, filename, content_type, data) per part, checking the order."""
    parts: list[tuple[str, str | None, str | None, bytes]] = []
    current: PartStart | None = None
    data = bytearray()
    for event in events:
        if isinstance(event, PartStart):
            assert current is None
            current, data = event, bytearray()
        elif isinstance(event, PartData):
            assert current is not None
            assert event.data, "empty PartData events are never emitted"
            data += event.data
        elif isinstance(event, PartEnd):
            assert current is not None
            parts.append((current.name, current.filename, current.content_type, bytes(data)))
            current = None
        else:
            assert isinstance(event, Done)
            assert current is None
    assert isinstance(events[-1], Done)
    return parts


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(body)) for c in cuts} | {0, len(body)})
    return [body[a:b] for a, b in itertools.pairwise(points)]


# ---------------------------------------------------------------------------------------------
# Round trips

names = st.text(min_size=1, max_size=20)
filenames = (
    st.none()
    | st.text(max_size=30)
    | st.sampled_from(
        [
            'a"b.txt',
            "a\\b.txt",
            "C:\\dir\\f.txt",
            "100%22.txt",
            "ü € ✓.txt",
            "x\r\ny",
            "%0D%0A",
            " lead",
        ]
    )
)
ctypes = st.sampled_from([None, "text/plain", "image/png", "text/plain; charset=utf-8"])


@st.composite
def forms(draw: st.DrawFn) -> tuple[str, list[Part]]:
    boundary = draw(st.binary(min_size=4, max_size=16)).hex()
    marker = ("--" + boundary).encode()
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        # Content made of pieces that look like the delimiter's start, CRLFs and dashes.
        pieces = draw(
            st.lists(
                st.binary(max_size=40)
                | st.sampled_from([b"\r\n", b"\r", b"--", b"\r\n--", b"\r\n-" + marker[1:6]])
                | st.just(b"\r\n" + marker[: draw(st.integers(0, len(marker) - 1))]),
                max_size=8,
            )
        )
        data = b"".join(pieces)
        assume(marker not in data)
        parts.append(Part(draw(names), data, filename=draw(filenames), content_type=draw(ctypes)))
    return boundary, parts


def expected(parts: list[Part]) -> list[tuple[str, str | None, str | None, bytes]]:
    out = []
    for p in parts:
        ctype = p.content_type
        if ctype is None and p.filename is not None:
            ctype = "application/octet-stream"
        out.append((p.name, p.filename, ctype, p.payload or b""))
    return out


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(forms(), st.lists(st.integers(0, 4000), max_size=12))
def test_round_trip_with_random_splits(form: tuple[str, list[Part]], cuts: list[int]) -> None:
    boundary, parts = form
    content_type, body = encode_multipart(parts, boundary)
    assert collect(feed(content_type, split(body, cuts))) == expected(parts)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(forms())
def test_round_trip_one_byte_at_a_time_and_whole(form: tuple[str, list[Part]]) -> None:
    boundary, parts = form
    content_type, body = encode_multipart(parts, boundary)
    one_by_one = feed(content_type, [body[i : i + 1] for i in range(len(body))])
    assert collect(one_by_one) == expected(parts)
    assert collect(feed(content_type, [body])) == expected(parts)
    decoded = decode_multipart(content_type, body)
    assert [(p.name, p.filename, p.content_type, p.data) for p in decoded] == expected(parts)


@settings(max_examples=100)
@given(forms())
def test_streaming_encoder_matches_whole_body(form: tuple[str, list[Part]]) -> None:
    boundary, parts = form
    _, body = encode_multipart(parts, boundary)
    # The same form with every file part streamed by the caller.
    streamed = [
        Part(
            p.name,
            None,
            filename=p.filename,
            content_type=p.content_type,
            size=len(p.payload or b""),
        )
        if p.filename is not None
        else p
        for p in parts
    ]
    encoder = MultipartEncoder(streamed, boundary)
    assert encoder.content_length() == len(body)
    out = bytearray()
    for segment in encoder.segments():
        if isinstance(segment, StreamSlot):
            data = parts[segment.index].payload or b""
            assert segment.size == len(data)
            out += data
        else:
            out += segment
    assert bytes(out) == body


def test_head_and_end_let_a_caller_stream_a_file() -> None:
    encoder = MultipartEncoder(
        [Part("path", "/workspace/big.bin"), Part("file", None, filename="big.bin", size=6)], "b0"
    )
    body = (
        encoder.head(0) + b"/workspace/big.bin" + b"\r\n"
        + encoder.head(1) + b"abc" + b"def" + b"\r\n" + encoder.end()
    )  # fmt: skip
    assert len(body) == encoder.content_length()
    assert [(p.name, p.data) for p in decode_multipart(encoder.content_type, body)] == [
        ("path", b"/workspace/big.bin"),
        ("file", b"abcdef"),
    ]
    with pytest.raises(LocalProtocolError, match="streamed"):
        encoder.encode()


# ---------------------------------------------------------------------------------------------
# Encoder refusals


@pytest.mark.parametrize("boundary", ["", "a" * 71, "ends with space ", "new\nline", 'quote"', "ü"])
def test_encoder_refuses_bad_boundaries(boundary: str) -> None:
    with pytest.raises(LocalProtocolError):
        MultipartEncoder([Part("a", b"x")], boundary)


@pytest.mark.parametrize(
    ("part", "match"),
    [
        (Part("a", b"x --bnd y"), "contains the boundary"),
        (Part("", b"x"), "non-empty name"),
        (Part("f", None, filename="f"), "size"),
        (Part("f", None, filename="f", size=-1), "size"),
        (Part("f", b"abc", size=4), "size=4"),
        (Part("f", b"abc", content_type="text/plain\r\nX-Evil: 1"), "CR, LF"),
        (Part("bad\ud800", b"x"), "UTF-8"),
    ],
)
def test_encoder_refuses_bad_parts(part: Part, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        MultipartEncoder([part], "bnd")


# ---------------------------------------------------------------------------------------------
# Decoder: parameter forms


@pytest.mark.parametrize(
    ("disposition", "name", "filename"),
    [
        ('form-data; name="file"; filename="plain.txt"', "file", "plain.txt"),
        ("form-data; name=file; filename=token.txt", "file", "token.txt"),
        ('form-data; name="f"; filename="a\\"b.txt"', "f", 'a"b.txt'),
        ('form-data; name="f"; filename="a%22b.txt"', "f", 'a"b.txt'),
        ('form-data; name="f"; filename="line%0D%0Abreak"', "f", "line\r\nbreak"),
        ('form-data; name="f"; filename="C:\\\\dir\\\\f.txt"', "f", "C:\\dir\\f.txt"),
        ("form-data; name=\"f\"; filename*=UTF-8''%E2%82%AC%20rates.txt", "f", "€ rates.txt"),
        ("form-data; name=\"f\"; filename*=utf-8'en'%C3%BC.txt", "f", "ü.txt"),
        ("form-data; name=\"f\"; filename*=ISO-8859-1''%FC.txt", "f", "ü.txt"),
        (
            'form-data; name="f"; filename="fallback.txt"; filename*=UTF-8\'\'%C3%BC.txt',
            "f",
            "ü.txt",
        ),
        (
            "form-data; name=\"f\"; filename*0*=UTF-8''%E2%82; filename*1*=%AC; filename*2=.txt",
            "f",
            "€.txt",
        ),
        ('form-data; NAME="Upper"; FileName="x"', "Upper", "x"),
        ('form-data; name="f"; filename=""', "f", ""),
        ('form-data;name="f";filename="t"', "f", "t"),
    ],
)
def test_filename_forms(disposition: str, name: str, filename: str) -> None:
    body = (f"--xyz\r\nContent-Disposition: {disposition}\r\n\r\ndata\r\n--xyz--\r\n").encode()
    (part,) = decode_multipart(CT, body)
    assert (part.name, part.filename, part.data) == (name, filename, b"data")


def test_raw_utf8_filename_as_browsers_send_it() -> None:
    body = '--xyz\r\nContent-Disposition: form-data; name="f"; filename="ü € ✓.txt"\r\n\r\nx\r\n'
    body += "--xyz--"
    (part,) = decode_multipart(CT, body.encode("utf-8"))
    assert part.filename == "ü € ✓.txt"


def test_preamble_epilogue_padding_and_quoted_boundary() -> None:
    body = (
        b"this is a preamble\r\n--a b:c\r\n\r\nno headers?\r\n"  # not a delimiter: wrong boundary
        b'--q(1)  \t\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
        b'--q(1)\r\nContent-Disposition: form-data; name="b"\r\nX-Extra: folded\r\n  value\r\n'
        b"\r\n\r\n--q(1)--\r\nepilogue --q(1) ignored"
    )
    parts = decode_multipart('multipart/form-data; boundary="q(1)"', body)
    assert [(p.name, p.data) for p in parts] == [("a", b"1"), ("b", b"")]
    assert ("x-extra", "folded value") in parts[1].headers


def test_no_parts_and_done_is_sticky() -> None:
    decoder = MultipartDecoder(CT)
    decoder.receive_data(b"--xyz--")
    assert decoder.next_event() == Done()
    decoder.receive_data(b"trailing epilogue")
    assert decoder.next_event() == Done()
    assert decoder.done
    assert decoder.part_count == 0


def test_data_is_streamed_before_the_part_ends() -> None:
    decoder = MultipartDecoder(CT)
    decoder.receive_data(b'--xyz\r\nContent-Disposition: form-data; name="f"\r\n\r\n' + b"a" * 1000)
    assert isinstance(decoder.next_event(), PartStart)
    event = decoder.next_event()
    assert isinstance(event, PartData)
    assert event.data == b"a" * 1000
    assert decoder.next_event() is NEED_DATA
    decoder.receive_data(b"\r\n--x")  # a possible delimiter start is held back
    assert decoder.next_event() is NEED_DATA
    decoder.receive_data(b"yz")
    assert decoder.next_event() == PartEnd()
    assert decoder.next_event() is NEED_DATA  # waiting for CRLF (next part) or -- (the end)
    decoder.receive_data(b"--")
    assert decoder.next_event() == Done()


# ---------------------------------------------------------------------------------------------
# Decoder: malformed input

MALFORMED = [
    ("no closing delimiter", b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\nabc'),
    ("nothing at all", b""),
    ("no delimiter", b"just text"),
    ("LF line endings", b'--xyz\nContent-Disposition: form-data; name="a"\n\nabc\n--xyz--\n'),
    ("text after delimiter", b'--xyzabc\r\nContent-Disposition: form-data; name="a"\r\n\r\n'),
    ("no disposition", b"--xyz\r\nContent-Type: text/plain\r\n\r\nabc\r\n--xyz--"),
    ("not form-data", b'--xyz\r\nContent-Disposition: attachment; name="a"\r\n\r\n\r\n--xyz--'),
    ("no name", b'--xyz\r\nContent-Disposition: form-data; filename="a"\r\n\r\n\r\n--xyz--'),
    ("bad header line", b"--xyz\r\nno colon here\r\n\r\n\r\n--xyz--"),
    ("continuation first", b"--xyz\r\n folded\r\n\r\n\r\n--xyz--"),
    ("unterminated quote", b'--xyz\r\nContent-Disposition: form-data; name="a\r\n\r\n\r\n--xyz--'),
    ("bad charset", b"--xyz\r\nContent-Disposition: form-data; name*=nope''a\r\n\r\n\r\n--xyz--"),
    ("bad utf-8", b"--xyz\r\nContent-Disposition: form-data; name*=UTF-8''%FF\r\n\r\n\r\n--xyz--"),
    ("no charset quote", b"--xyz\r\nContent-Disposition: form-data; name*=abc\r\n\r\n\r\n--xyz--"),
    (
        "continuation gap",
        b"--xyz\r\nContent-Disposition: form-data; name*0=a; name*2=b\r\n\r\n\r\n--xyz--",
    ),
    ("param without =", b"--xyz\r\nContent-Disposition: form-data; name\r\n\r\n\r\n--xyz--"),
    ("junk after quote", b'--xyz\r\nContent-Disposition: form-data; name="a"b\r\n\r\n\r\n--xyz--'),
    ("cut in headers", b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n'),
]


@pytest.mark.parametrize(("why", "body"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_bodies_raise_remote_protocol_error(why: str, body: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_multipart(CT, body)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        'multipart/form-data; boundary="unterminated',
        'multipart/form-data; boundary="ends-in-space "',
        "multipart/form-data; boundary=" + "x" * 201,
        b"multipart/form-data; boundary=\xff\xfe",
    ],
)
def test_bad_content_types(content_type: str | bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        MultipartDecoder(content_type)


def test_limits() -> None:
    head = b'--xyz\r\nContent-Disposition: form-data; name="a"\r\nX-Pad: ' + b"p" * 200
    with pytest.raises(RemoteProtocolError, match="exceed"):
        feed(CT, [head], max_part_header_size=100)
    many = b"".join(
        b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n\r\n' for _ in range(4)
    )
    with pytest.raises(RemoteProtocolError, match="more than 3 parts"):
        decode_multipart(CT, many + b"--xyz--", max_parts=3)
    with pytest.raises(RemoteProtocolError, match="CRLF"):
        feed(CT, [b"--xyz" + b" " * 2000])


def test_after_an_error_every_call_is_refused() -> None:
    decoder = MultipartDecoder(CT)
    decoder.receive_data(b"--xyz\r\nbroken header\r\n\r\n")
    with pytest.raises(RemoteProtocolError):
        decoder.next_event()
    with pytest.raises(LocalProtocolError):
        decoder.next_event()
    with pytest.raises(LocalProtocolError):
        decoder.receive_data(b"more")


def test_data_after_eof_is_refused() -> None:
    decoder = MultipartDecoder(CT)
    decoder.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        decoder.receive_data(b"late")


@settings(max_examples=200)
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=5))
def test_arbitrary_bytes_raise_only_remote_protocol_error(body: bytes, cuts: list[int]) -> None:
    try:
        feed(CT, split(b"--xyz\r\n" + body, cuts))
    except RemoteProtocolError:
        pass


@settings(max_examples=200)
@given(forms(), st.data())
def test_mutated_bodies_raise_only_remote_protocol_error(
    form: tuple[str, list[Part]], data: st.DataObject
) -> None:
    boundary, parts = form
    content_type, body = encode_multipart(parts, boundary)
    mutated = bytearray(body)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(mutated)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        byte = data.draw(st.sampled_from([b"\r", b"\n", b"-", b'"', b";", b"\\", b"%", b"\xff"]))
        if action == "insert":
            mutated[pos:pos] = byte
        elif action == "delete":
            del mutated[pos : pos + 1]
        elif action == "replace":
            mutated[pos : pos + 1] = byte
        else:
            del mutated[pos:]
    try:
        feed(content_type, [bytes(mutated)])
    except RemoteProtocolError:
        pass


@given(st.text(max_size=120))
def test_header_params_parser_raises_only_remote_protocol_error(text: str) -> None:
    try:
        parse_header_params(text)
    except RemoteProtocolError:
        pass


# ---------------------------------------------------------------------------------------------
# Interoperability


def _trace_upload() -> dict[str, Any]:
    if not TRACES.exists():
        pytest.skip("the official client's traces are not beside this checkout")
    for line in TRACES.read_text().splitlines():
        record = json.loads(line)
        body = record.get("body") or {}
        if record.get("path") == "/files/upload" and body.get("kind") == "multipart":
            return dict(body)
    raise AssertionError("no multipart upload in the traces")


def test_same_bytes_as_the_official_client_upload_trace() -> None:
    trace = _trace_upload()
    boundary = trace["boundary_sample"]
    path_part, file_part = trace["parts"]
    payload = bytes(i % 251 for i in range(file_part["length"]))
    # The official client's body, rebuilt from the recorded part headers.
    official = bytearray()
    for part, data in ((path_part, path_part["value"].encode()), (file_part, payload)):
        official += f"--{boundary}\r\n".encode()
        for name, value in part["part_headers"]:
            official += f"{name}: {value}\r\n".encode()
        official += b"\r\n" + data + b"\r\n"
    official += f"--{boundary}--\r\n".encode()
    assert len(official) == trace["total_length"]
    ours = MultipartEncoder(
        [Part("path", path_part["value"]), Part("file", payload, filename=file_part["filename"])],
        boundary,
    )
    assert ours.encode() == bytes(official)
    assert ours.content_length() == trace["total_length"]
    decoded = decode_multipart(f"multipart/form-data; boundary={boundary}", bytes(official))
    assert [(p.name, p.filename, p.content_type) for p in decoded] == [
        ("path", None, None),
        ("file", file_part["filename"], "application/octet-stream"),
    ]
    assert decoded[0].data.decode() == path_part["value"]
    assert decoded[1].data == payload


def _httpx_body(files: dict[str, Any], data: dict[str, str], boundary: str) -> bytes:
    httpx = pytest.importorskip("httpx")
    request = httpx.Request(
        "POST",
        "http://127.0.0.1/files/upload",
        files=files,
        data=data,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    return bytes(request.read())


def test_same_bytes_as_httpx_for_plain_names() -> None:
    payload = b"\x00\x01\r\n--binary\r\n"
    theirs = _httpx_body(
        {"file": ("data.bin", payload, "application/octet-stream")},
        {"path": "/workspace/a b&c.txt"},
        "0123abcd",
    )
    ours = encode_multipart(
        [Part("path", "/workspace/a b&c.txt"), Part("file", payload, filename="data.bin")],
        "0123abcd",
    )[1]
    assert ours == theirs


@pytest.mark.parametrize(
    "filename", ['quote".txt', "back\\slash.txt", "ü € ✓.txt", "new\r\nline.txt", "tab\there"]
)
def test_decodes_httpx_escaped_filenames(filename: str) -> None:
    body = _httpx_body({"file": (filename, b"abc", "text/plain")}, {}, "b-1")
    (part,) = decode_multipart("multipart/form-data; boundary=b-1", body)
    assert (part.filename, part.content_type, part.data) == (filename, "text/plain", b"abc")


def _email_body(fields: list[tuple[str, str | None, bytes]], *, fold: bool) -> tuple[str, bytes]:
    pol = policy.default.clone(linesep="\r\n") if fold else policy.HTTP
    message = EmailMessage(policy=pol)
    message.set_type("multipart/form-data")
    for name, filename, data in fields:
        part = EmailMessage(policy=pol)
        part.set_payload(data)
        if filename is None:
            part.add_header("Content-Disposition", "form-data", name=name)
        else:
            part.add_header("Content-Disposition", "form-data", name=name, filename=filename)
        message.attach(part)
    raw = message.as_bytes()
    _, _, body = raw.partition(b"\r\n\r\n")
    return f'multipart/form-data; boundary="{message.get_boundary()}"', body


@pytest.mark.parametrize("fold", [False, True])
def test_decodes_what_the_standard_library_writes(fold: bool) -> None:
    long_name = "ü € rapport trimestriel avec un nom de fichier vraiment très long (v2).txt"
    fields = [("path", None, b"/workspace/x"), ("file", long_name, b"bin\r\n--data\x00")]
    content_type, body = _email_body(fields, fold=fold)
    parts = decode_multipart(content_type, body)
    assert [(p.name, p.filename, p.data) for p in parts] == fields


def test_standard_library_reads_what_we_write() -> None:
    fields = [
        Part("path", "/workspace/ü x.txt"),
        Part(
            "file", b"\x89PNG\r\n--x\r\n", filename='weird "name" ü.png', content_type="image/png"
        ),
    ]
    content_type, body = encode_multipart(fields, "boundary-42")
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type + b"\r\n\r\n" + body
    )
    parts = list(message.iter_parts())
    assert [p.get_param("name", header="content-disposition") for p in parts] == ["path", "file"]
    assert parts[1].get_filename() == 'weird "name" ü.png'
    assert parts[1].get_content_type() == "image/png"
    assert parts[1].get_payload(decode=True) == b"\x89PNG\r\n--x\r\n"
    assert parts[0].get_payload(decode=True) == "/workspace/ü x.txt".encode()
