"""``multipart/form-data`` bodies, encoded and decoded in pieces.

The encoder never buffers a file: :class:`MultipartEncoder` gives the bytes that go before and
after each part, so a caller writes a part's head, streams the file's bytes, then writes the
part's tail; :meth:`MultipartEncoder.content_length` is known before the first byte when every
streamed part declares its size. The boundary is the caller's (for example 16 random bytes in
hex from the I/O layer): nothing here draws random numbers.

The decoder is a push parser with the same shape as the HTTP machine: ``receive_data(bytes)``
(``b""`` is the end of the body) and ``next_event()`` returning :class:`PartStart`,
:class:`PartData`, :class:`PartEnd`, :class:`Done` or ``NEED_DATA``. It accepts any split of
the input, parameters in quoted (with ``\\`` escapes and HTML form ``%22``/``%0D``/``%0A``
escapes), token and RFC 2231 forms (``filename*=UTF-8''%E2%82%AC.txt``, continuations), and
raises :class:`RemoteProtocolError` on anything malformed.

Parameter values written by the encoder are plain quoted strings when they are printable ASCII
without ``"``, ``\\`` or ``%``; any other value is written twice: as a quoted string (``\\``
escapes for ``"`` and ``\\``, ``%0D``-style escapes for control characters) for readers that
know only that form, then as ``key*=UTF-8''<percent-encoded>``, which is exact and takes
precedence for readers of RFC 2231 (this decoder, Go's ``mime`` package).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Sequence
from typing import TypeAlias
from urllib.parse import quote, unquote_to_bytes

import attrs

from ._errors import LocalProtocolError, RemoteProtocolError
from ._http import NEED_DATA, NeedData
from ._value import Value

__all__ = [
    "Done",
    "MultipartDecoder",
    "MultipartEncoder",
    "MultipartEvent",
    "Part",
    "PartData",
    "PartEnd",
    "PartStart",
    "StreamSlot",
    "boundary_of",
    "decode_multipart",
    "encode_multipart",
    "parse_header_params",
]

CRLF = b"\r\n"
DEFAULT_MAX_PART_HEADER_SIZE = 16 * 1024
DEFAULT_MAX_PARTS = 1000
_MAX_PADDING = 1024

# RFC 2046 bcharsnospace plus space (not last); 1 to 70 characters.
_BOUNDARY_RE = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# What a received boundary may be: visible ASCII and spaces, never CR/LF.
_LENIENT_BOUNDARY_RE = re.compile(r"[\x20-\x7e]{1,200}")
_SIMPLE_VALUE_RE = re.compile(r"[\x20-\x7e]*")
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_NAME_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORM_ESCAPES = {'"': '\\"', "\\": "\\\\"}
_FORM_ESCAPES.update({chr(c): f"%{c:02X}" for c in (*range(0x20), 0x7F)})
# One character in, its escape out: a translation table, with no pattern to compile at import.
_FORM_ESCAPE_TABLE = str.maketrans(_FORM_ESCAPES)
_FORM_UNESCAPE_RE = re.compile(r"%(22|0[0-9A-Fa-f]|1[0-9A-Fa-f])")
_ATTR_CHARS = "!#$&+-.^_`|~"  # RFC 5987 attr-char minus ALPHA / DIGIT


# ---------------------------------------------------------------------------------------------
# Header parameters (Content-Disposition, Content-Type)


def _malformed(message: str) -> RemoteProtocolError:
    """The error for a body whose multipart framing or part headers are broken."""
    return RemoteProtocolError(message, kind="malformed_body")


def _is_simple(value: str) -> bool:
    return bool(_SIMPLE_VALUE_RE.fullmatch(value)) and not any(c in value for c in '"\\%')


def format_param(key: str, value: str) -> str:
    """``key="value"``, adding ``key*=UTF-8''...`` when the plain form cannot carry it exactly."""
    if _is_simple(value):
        return f'{key}="{value}"'
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{key} is not encodable as UTF-8: {value!r}") from None
    legacy = value.translate(_FORM_ESCAPE_TABLE)
    exact = quote(raw, safe=_ATTR_CHARS)
    return f"{key}=\"{legacy}\"; {key}*=UTF-8''{exact}"


def _read_quoted(text: str, pos: int) -> tuple[str, int]:
    """The quoted string starting at ``text[pos] == '"'``: its value and the index after it."""
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif c == '"':
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise _malformed(f"unterminated quoted string in header value {text[:120]!r}")


def _decode_2231(charset: str, raw: bytes) -> str:
    try:
        codecs.lookup(charset)
        return raw.decode(charset)
    except (LookupError, ValueError):  # unknown charset, or bytes not in it (UnicodeError)
        raise _malformed(f"header parameter is not valid {charset[:40]!r} text") from None


def _split_ext(value: str) -> tuple[str, bytes]:
    """``charset'language'percent-encoded`` -> (charset, raw bytes)."""
    parts = value.split("'", 2)
    if len(parts) != 3:
        raise _malformed(f"malformed extended header parameter {value[:80]!r}")
    return parts[0] or "us-ascii", unquote_to_bytes(parts[2])


def _join_extended(segments: dict[str, list[tuple[int, bool, str]]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, pieces in segments.items():
        pieces.sort(key=lambda p: p[0])
        if [p[0] for p in pieces] != list(range(len(pieces))):
            raise _malformed(f"header parameter {key!r} has missing continuations")
        charset = "us-ascii"
        raw = bytearray()
        for index, encoded, value in pieces:
            if encoded and index == 0:
                charset, chunk = _split_ext(value)
                raw += chunk
            elif encoded:
                raw += unquote_to_bytes(value)
            else:
                raw += value.encode("utf-8")
        out[key] = _decode_2231(charset if pieces[0][1] else "utf-8", bytes(raw))
    return out


_CONTINUATION_RE = re.compile(r"(.+?)\*([0-9]{1,3})(\*?)")


def parse_header_params(value: str) -> tuple[str, dict[str, str]]:
    """A header value such as ``form-data; name="a"; filename*=UTF-8''b`` -> (type, params).

    Keys are lower-cased. Extended (``key*``) and continued (``key*0``, ``key*1*``) forms win
    over the plain form of the same key. Quoted values have ``\\`` escapes and HTML form
    escapes (``%22``, ``%0D``, ``%0A``, other control characters) undone.
    """
    text = value.strip()
    semi = text.find(";")
    kind = (text if semi < 0 else text[:semi]).strip().lower()
    pos = len(text) if semi < 0 else semi + 1
    plain: dict[str, str] = {}
    extended: dict[str, str] = {}
    segments: dict[str, list[tuple[int, bool, str]]] = {}
    while pos < len(text):
        while pos < len(text) and text[pos] in " \t;":
            pos += 1
        if pos >= len(text):
            break
        eq = text.find("=", pos)
        if eq < 0:
            raise _malformed(f"header parameter without a value in {text[:120]!r}")
        key = text[pos:eq].strip().lower()
        if not key or not _TOKEN_RE.fullmatch(key):
            raise _malformed(f"malformed header parameter name {key[:40]!r}")
        pos = eq + 1
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        quoted = pos < len(text) and text[pos] == '"'
        if quoted:
            val, pos = _read_quoted(text, pos)
            while pos < len(text) and text[pos] in " \t":
                pos += 1
            if pos < len(text) and text[pos] != ";":
                raise _malformed(f"text after a quoted parameter in {text[:120]!r}")
        else:
            end = text.find(";", pos)
            end = len(text) if end < 0 else end
            val, pos = text[pos:end].strip(), end
        m = _CONTINUATION_RE.fullmatch(key)
        if m is not None:
            segments.setdefault(m.group(1), []).append((int(m.group(2)), bool(m.group(3)), val))
        elif key.endswith("*"):
            extended.setdefault(key[:-1], _decode_2231(*_split_ext(val)))
        elif quoted:
            plain.setdefault(key, _FORM_UNESCAPE_RE.sub(lambda m: chr(int(m[1], 16)), val))
        else:
            plain.setdefault(key, val)
    plain.update(_join_extended(segments))
    plain.update(extended)
    return kind, plain


# ---------------------------------------------------------------------------------------------
# Encoder


@attrs.frozen(repr=False, eq=False, slots=False)
class Part(Value):
    """One part to send.

    A form value or an in-memory file has ``data``; a file whose bytes the caller streams has
    ``data=None`` and its byte count in ``size``. ``filename`` makes the part a file part,
    which gets ``content_type`` (default ``application/octet-stream``).
    """

    name: str
    data: bytes | str | None = None
    filename: str | None = None
    content_type: str | None = None
    size: int | None = None

    @property
    def payload(self) -> bytes | None:
        """The part's bytes when they are in memory (``str`` data as UTF-8)."""
        if isinstance(self.data, str):
            try:
                return self.data.encode("utf-8")
            except UnicodeEncodeError:
                raise LocalProtocolError(f"part {self.name!r}: data is not UTF-8 text") from None
        return self.data


@attrs.frozen(repr=False, eq=False, slots=False)
class StreamSlot(Value):
    """Where the caller writes the ``size`` bytes of streamed part number ``index``."""

    index: int
    size: int


def _check_boundary(boundary: str) -> None:
    if not isinstance(boundary, str) or not _BOUNDARY_RE.fullmatch(boundary):
        raise LocalProtocolError(
            f"multipart boundary must be 1-70 characters of RFC 2046 bchars, got {boundary!r}"
        )


def _check_header_text(what: str, value: str) -> None:
    if any(c in value for c in "\r\n\x00"):
        raise LocalProtocolError(f"{what} must not contain CR, LF or NUL: {value!r}")


class MultipartEncoder:
    """Encode parts around caller-streamed file bytes.

    For each part write :meth:`head`, then the part's bytes, then :data:`CRLF`; finish with
    :meth:`end`. :meth:`segments` yields that sequence with a :class:`StreamSlot` wherever a
    streamed part's bytes go.
    """

    def __init__(self, fields: Sequence[Part], boundary: str) -> None:
        _check_boundary(boundary)
        self.boundary = boundary
        self.fields: tuple[Part, ...] = tuple(fields)
        marker = b"--" + boundary.encode("ascii")
        for part in self.fields:
            if not isinstance(part, Part):
                raise LocalProtocolError(f"multipart fields must be Part values, got {part!r}")
            if not isinstance(part.name, str) or not part.name:
                raise LocalProtocolError("a multipart part needs a non-empty name")
            if part.filename is not None and not isinstance(part.filename, str):
                raise LocalProtocolError(f"part {part.name!r}: filename must be a string")
            if part.data is not None and not isinstance(part.data, bytes | bytearray | str):
                raise LocalProtocolError(f"part {part.name!r}: data must be bytes or str")
            if part.content_type is not None:
                _check_header_text("a part's content type", part.content_type)
            payload = part.payload
            if payload is None:
                if isinstance(part.size, bool) or not isinstance(part.size, int) or part.size < 0:
                    raise LocalProtocolError(
                        f"streamed part {part.name!r} needs its size in bytes (an int >= 0)"
                    )
            else:
                if part.size is not None and part.size != len(payload):
                    raise LocalProtocolError(
                        f"part {part.name!r} says size={part.size} but holds {len(payload)} bytes"
                    )
                if marker in payload:
                    raise LocalProtocolError(
                        f"part {part.name!r} contains the boundary; choose another boundary"
                    )
        self._heads = tuple(self._head(part) for part in self.fields)

    @property
    def content_type(self) -> bytes:
        """The request's ``Content-Type`` header value."""
        return b"multipart/form-data; boundary=" + self.boundary.encode("ascii")

    def _head(self, part: Part) -> bytes:
        disposition = "form-data; " + format_param("name", part.name)
        if part.filename is not None:
            disposition += "; " + format_param("filename", part.filename)
        lines = [f"--{self.boundary}", f"Content-Disposition: {disposition}"]
        ctype = part.content_type
        if ctype is None and part.filename is not None:
            ctype = "application/octet-stream"
        if ctype is not None:
            lines.append(f"Content-Type: {ctype}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    def head(self, index: int) -> bytes:
        """The delimiter and headers that precede part ``index``."""
        return self._heads[index]

    def end(self) -> bytes:
        """The closing delimiter."""
        return b"--" + self.boundary.encode("ascii") + b"--" + CRLF

    def content_length(self) -> int:
        """The whole body's size in bytes, known before any of it is produced."""
        total = len(self.end())
        for part, head in zip(self.fields, self._heads, strict=True):
            payload = part.payload
            size = len(payload) if payload is not None else part.size
            assert size is not None  # checked in __init__
            total += len(head) + size + len(CRLF)
        return total

    def segments(self) -> Iterator[bytes | StreamSlot]:
        """The body in order: bytes to write, and a slot for each streamed part."""
        for index, part in enumerate(self.fields):
            yield self._heads[index]
            payload = part.payload
            if payload is None:
                assert part.size is not None
                yield StreamSlot(index, part.size)
            elif payload:
                yield payload
            yield CRLF
        yield self.end()

    def encode(self) -> bytes:
        """The whole body, for parts that are all in memory."""
        out = bytearray()
        for segment in self.segments():
            if isinstance(segment, StreamSlot):
                raise LocalProtocolError(
                    f"part {self.fields[segment.index].name!r} is streamed; use segments()"
                )
            out += segment
        return bytes(out)


def encode_multipart(fields: Sequence[Part], boundary: str) -> tuple[bytes, bytes]:
    """``(content_type, body)`` for parts held in memory."""
    encoder = MultipartEncoder(fields, boundary)
    return encoder.content_type, encoder.encode()


# ---------------------------------------------------------------------------------------------
# Decoder


@attrs.frozen(repr=False, eq=False, slots=False)
class PartStart(Value):
    """A part begins. ``headers`` are ``(lower-case name, value)`` pairs as received."""

    name: str
    filename: str | None
    content_type: str | None
    headers: tuple[tuple[str, str], ...]


@attrs.frozen(repr=False, eq=False, slots=False)
class PartData(Value):
    """Some bytes of the current part's content."""

    data: bytes


@attrs.frozen(repr=False, eq=False, slots=False)
class PartEnd(Value):
    """The current part is complete."""


@attrs.frozen(repr=False, eq=False, slots=False)
class Done(Value):
    """The closing delimiter was read; anything after it is ignored."""


MultipartEvent: TypeAlias = PartStart | PartData | PartEnd | Done | NeedData

_PREAMBLE, _AFTER_DELIMITER, _HEADERS, _BODY, _DONE, _FAILED = range(6)


def boundary_of(content_type: str | bytes) -> str:
    """The boundary of a multipart ``Content-Type`` value; :class:`RemoteProtocolError` if none."""
    text = content_type.decode("latin-1") if isinstance(content_type, bytes) else content_type
    if not isinstance(text, str):
        raise _malformed("multipart content type must be text")
    kind, params = parse_header_params(text)
    if not kind.startswith("multipart/"):
        raise _malformed(f"expected a multipart content type, got {kind!r}")
    boundary = params.get("boundary")
    if not boundary or not _LENIENT_BOUNDARY_RE.fullmatch(boundary) or boundary.endswith(" "):
        raise _malformed(f"multipart content type has no usable boundary: {text!r}")
    return boundary


def _decode_header_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _parse_part_headers(block: bytes) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    for line in block.split(CRLF):
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            if not headers:
                raise _malformed("part header block starts with a continuation line")
            last_name, last_value = headers[-1]
            headers[-1] = (last_name, last_value + " " + _decode_header_text(line.strip()))
            continue
        name, sep, value = line.partition(b":")
        if not sep or not _HEADER_NAME_RE.fullmatch(name):
            raise _malformed(f"malformed part header line {line[:80]!r}")
        if b"\n" in value or b"\r" in value:
            raise _malformed("bare CR or LF in a part header")
        headers.append((name.decode("ascii").lower(), _decode_header_text(value.strip())))
    return tuple(headers)


class MultipartDecoder:
    """Push parser for a ``multipart/form-data`` body.

    Feed bytes with :meth:`receive_data` (``b""`` once the body has ended) and call
    :meth:`next_event` until it returns ``NEED_DATA`` or :class:`Done`. Every part must carry
    ``Content-Disposition: form-data; name=...``.
    """

    def __init__(
        self,
        content_type_header: str | bytes,
        *,
        max_part_header_size: int = DEFAULT_MAX_PART_HEADER_SIZE,
        max_parts: int = DEFAULT_MAX_PARTS,
    ) -> None:
        self.boundary = boundary_of(content_type_header)
        self._delimiter = CRLF + b"--" + self.boundary.encode("latin-1")
        self._max_header = max_part_header_size
        self._max_parts = max_parts
        # The first delimiter may open the body: a virtual CRLF lets one pattern find it.
        self._buf = bytearray(CRLF)
        self._state = _PREAMBLE
        self._eof = False
        self._parts = 0

    @property
    def done(self) -> bool:
        """Whether the closing delimiter has been read."""
        return self._state == _DONE

    @property
    def part_count(self) -> int:
        """How many parts have started so far."""
        return self._parts

    def receive_data(self, data: bytes) -> None:
        """Add received bytes; ``b""`` means the body has ended."""
        if self._state == _FAILED:
            raise LocalProtocolError("the multipart decoder already failed")
        if self._eof and data:
            raise LocalProtocolError("data received after the end of the body")
        if not data:
            self._eof = True
        elif self._state != _DONE:
            self._buf += data

    def next_event(self) -> MultipartEvent:
        """The next event, or ``NEED_DATA``; :class:`RemoteProtocolError` if malformed."""
        if self._state == _FAILED:
            raise LocalProtocolError("the multipart decoder already failed")
        try:
            event = self._step()
        except RemoteProtocolError:
            self._state = _FAILED
            raise
        if event is NEED_DATA and self._eof:
            self._state = _FAILED
            raise _malformed("multipart body ended before its closing delimiter")
        return event

    def _step(self) -> MultipartEvent:
        while True:
            state = self._state
            if state == _DONE:
                return Done()
            if state == _PREAMBLE:
                if not self._find_first_delimiter():
                    return NEED_DATA
                continue
            if state == _AFTER_DELIMITER:
                closing = self._after_delimiter()
                if closing is None:
                    return NEED_DATA
                if closing:
                    self._state = _DONE
                    self._buf.clear()
                    return Done()
                self._state = _HEADERS
                continue
            if state == _HEADERS:
                return self._headers()
            return self._body()

    def _find_first_delimiter(self) -> bool:
        buf = self._buf
        index = buf.find(self._delimiter)
        if index < 0:
            keep = len(self._delimiter) - 1
            if len(buf) > keep:
                del buf[: len(buf) - keep]
            return False
        del buf[: index + len(self._delimiter)]
        self._state = _AFTER_DELIMITER
        return True

    def _after_delimiter(self) -> bool | None:
        """True for the closing delimiter, False for a part's, None when more bytes are needed."""
        buf = self._buf
        if len(buf) < 2:
            return None
        if buf[:2] == b"--":
            return True
        end = buf.find(CRLF)
        if end < 0:
            pending = buf[:-1] if buf.endswith(b"\r") else buf
            if len(buf) > _MAX_PADDING or pending.strip(b" \t"):
                raise _malformed("multipart delimiter is not followed by CRLF")
            return None
        if buf[:end].strip(b" \t"):
            raise _malformed("multipart delimiter is followed by other text")
        del buf[: end + 2]
        return False

    def _headers(self) -> MultipartEvent:
        buf = self._buf
        if buf[:2] == CRLF:
            block, consumed = b"", 2
        else:
            end = buf.find(CRLF + CRLF)
            if end < 0:
                if len(buf) > self._max_header:
                    raise _malformed(f"part headers exceed {self._max_header} bytes")
                return NEED_DATA
            block, consumed = bytes(buf[:end]), end + 4
        if len(block) > self._max_header:
            raise _malformed(f"part headers exceed {self._max_header} bytes")
        headers = _parse_part_headers(block)
        self._parts += 1
        if self._parts > self._max_parts:
            raise _malformed(f"multipart body has more than {self._max_parts} parts")
        disposition = next((v for k, v in headers if k == "content-disposition"), None)
        if disposition is None:
            raise _malformed("multipart part has no Content-Disposition header")
        kind, params = parse_header_params(disposition)
        if kind != "form-data" or "name" not in params:
            raise _malformed(f"part disposition is not form-data with a name: {kind!r}")
        content_type = next((v for k, v in headers if k == "content-type"), None)
        del buf[:consumed]
        self._state = _BODY
        return PartStart(params["name"], params.get("filename"), content_type, headers)

    def _body(self) -> MultipartEvent:
        buf = self._buf
        delimiter = self._delimiter
        index = buf.find(delimiter)
        if index == 0:
            del buf[: len(delimiter)]
            self._state = _AFTER_DELIMITER
            return PartEnd()
        if index > 0:
            data = bytes(buf[:index])
            del buf[:index]
            return PartData(data)
        # Hold back a tail that could be the start of the delimiter; the delimiter holds a
        # single CR (its first byte), so only the last CR in the window can start it.
        safe = len(buf)
        window = max(0, len(buf) - (len(delimiter) - 1))
        cr = buf.rfind(b"\r", window)
        if cr >= 0 and delimiter.startswith(bytes(buf[cr:])):
            safe = cr
        if safe == 0:
            return NEED_DATA
        data = bytes(buf[:safe])
        del buf[:safe]
        return PartData(data)


@attrs.frozen(repr=False, eq=False, slots=False)
class DecodedPart(Value):
    """A whole part, as :func:`decode_multipart` returns it."""

    name: str
    filename: str | None
    content_type: str | None
    headers: tuple[tuple[str, str], ...]
    data: bytes


def decode_multipart(
    content_type_header: str | bytes,
    body: bytes,
    *,
    max_part_header_size: int = DEFAULT_MAX_PART_HEADER_SIZE,
    max_parts: int = DEFAULT_MAX_PARTS,
) -> list[DecodedPart]:
    """Every part of a whole body, in order."""
    decoder = MultipartDecoder(
        content_type_header, max_part_header_size=max_part_header_size, max_parts=max_parts
    )
    decoder.receive_data(body)
    decoder.receive_data(b"")
    parts: list[DecodedPart] = []
    current: PartStart | None = None
    chunks: list[bytes] = []
    while True:
        event = decoder.next_event()
        if isinstance(event, PartStart):
            current, chunks = event, []
        elif isinstance(event, PartData):
            chunks.append(event.data)
        elif isinstance(event, PartEnd):
            assert current is not None
            parts.append(
                DecodedPart(
                    current.name,
                    current.filename,
                    current.content_type,
                    current.headers,
                    b"".join(chunks),
                )
            )
            current = None
        else:
            # Done; NEED_DATA cannot happen after EOF (next_event raises instead).
            return parts
