"""Agent file operations (``/files/*``).

Every path travels percent-encoded in the query string (``?path=%2Fworkspace%2Fa%20b%26c``)
or in a JSON body, never pasted raw into a URL. Paths must be absolute. Downloads are raw
bytes, taken as they come. Uploads are ``multipart/form-data`` with a ``path`` part then a
``file`` part (see :mod:`hopx_proto._multipart`).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Literal, TypeVar, cast

import attrs

from .._checks import absolute_path
from .._errors import LocalProtocolError, RemoteProtocolError
from .._http import Request
from .._models.files import FileContent, FileExists, FileList, FileResult
from .._multipart import MultipartEncoder, Part, boundary_of, decode_multipart, encode_multipart
from .._value import Value
from ._base import Binary, Model, NoContent, Operation, Plane, ResultCodec, body, query

__all__ = [
    "FILES_DOWNLOAD",
    "FILES_EXISTS",
    "FILES_LIST",
    "FILES_MKDIR",
    "FILES_READ",
    "FILES_REMOVE",
    "FILES_UPLOAD",
    "FILES_WATCH",
    "FILES_WRITE",
    "BINARY",
    "DEFAULT_DIRECTORY",
    "NO_CONTENT",
    "FileMkdir",
    "FilePath",
    "FileUpload",
    "FileWatch",
    "FileWrite",
    "FilesList",
    "model",
    "required_absolute_path",
    "result_codec",
    "streamed_upload",
]

T = TypeVar("T")

DEFAULT_DIRECTORY = "/workspace"
UPLOAD_MAX_PARTS = 8


def result_codec(codec: object) -> ResultCodec[Any]:
    """``codec`` typed as a :class:`ResultCodec` (frozen codecs expose read-only attributes)."""
    return cast("ResultCodec[Any]", codec)


def model(cls: type[T]) -> ResultCodec[T]:
    """The :class:`Model` codec of ``cls``, typed for :class:`Operation`."""
    codec: Any = Model(cls)
    return cast("ResultCodec[T]", codec)


BINARY: ResultCodec[bytes] = result_codec(Binary())
NO_CONTENT: ResultCodec[None] = result_codec(NoContent())


def required_absolute_path(instance: Any, attribute: Any, value: Any) -> None:
    """An absolute path that must be given."""
    if value is None:
        raise LocalProtocolError(f"{attribute.name} is required")
    absolute_path(instance, attribute, value)


_MODE_RE = re.compile(r"[0-7]{3,4}")


def _octal_mode(_instance: Any, attribute: Any, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not _MODE_RE.fullmatch(value):
        raise LocalProtocolError(
            f"{attribute.name} must be octal digits like '0644', got {value!r}"
        )


def _content_encoding(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(instance.content, str):
        raise LocalProtocolError(f"content must be a string, got {type(instance.content).__name__}")
    if value is None:
        return
    if value != "base64":
        raise LocalProtocolError(f"{attribute.name} must be 'base64' or None, got {value!r}")
    try:
        base64.b64decode(instance.content, validate=True)
    except (binascii.Error, ValueError):
        raise LocalProtocolError("content is not valid base64 although encoding='base64'") from None


def _optional_bool(_instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        raise LocalProtocolError(f"{attribute.name} must be true, false or None, got {value!r}")


@attrs.frozen(repr=False, eq=False, slots=False)
class FilePath(Value):
    """Arguments naming one path in the query string (read, download, exists, remove)."""

    path: str = query(default=attrs.NOTHING, validator=required_absolute_path)


@attrs.frozen(repr=False, eq=False, slots=False)
class FilesList(Value):
    """Arguments of ``files.list``: the directory, ``/workspace`` unless given."""

    path: str = query(default=DEFAULT_DIRECTORY, validator=required_absolute_path)


@attrs.frozen(repr=False, eq=False, slots=False)
class FileMkdir(Value):
    """Arguments of ``files.mkdir`` (parents are created too)."""

    path: str = body(validator=required_absolute_path)


@attrs.frozen(repr=False, eq=False, slots=False)
class FileWrite(Value):
    """Arguments of ``files.write``: the body ``{path, content[, mode][, encoding][, overwrite]}``.

    ``content`` is text, or base64 text with ``encoding="base64"`` (see :meth:`from_bytes`).
    Fields that are None stay out of the body, and an absent field reads back as None; the
    service's own client always sends ``mode="0644"`` unless told otherwise, so callers that
    want its bytes pass that mode.
    """

    path: str = body(validator=required_absolute_path)
    content: str = body()
    mode: str | None = body(default=None, validator=_octal_mode)
    encoding: Literal["base64"] | None = body(default=None, validator=_content_encoding)
    overwrite: bool | None = body(default=None, validator=_optional_bool)

    @classmethod
    def from_bytes(
        cls, path: str, data: bytes, *, mode: str | None = None, overwrite: bool | None = None
    ) -> FileWrite:
        """A write of raw bytes, sent base64-encoded."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise LocalProtocolError(f"data must be bytes, got {type(data).__name__}")
        text = base64.b64encode(bytes(data)).decode("ascii")
        return cls(path, text, mode=mode, encoding="base64", overwrite=overwrite)

    @property
    def data(self) -> bytes:
        """The bytes the file will hold."""
        if self.encoding == "base64":
            return base64.b64decode(self.content)
        return self.content.encode("utf-8")


def _bytes_value(_instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, bytes):
        raise LocalProtocolError(f"{attribute.name} must be bytes, got {type(value).__name__}")


def _file_name(_instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise LocalProtocolError(f"{attribute.name} must be a non-empty string, got {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{attribute.name} is not encodable as UTF-8") from None


def _boundary_value(_instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise LocalProtocolError(f"{attribute.name} must be a string or None")


@attrs.frozen(repr=False, eq=False, slots=False)
class FileUpload(Value):
    """Arguments of ``files.upload``: destination ``path``, the bytes, and the part's filename.

    ``boundary`` is the multipart boundary; callers that can draw random bytes pass one
    (32 hex digits, say). Without it a boundary is derived from a SHA-256 of the content, so
    the same arguments always give the same bytes. It takes no part in equality.
    """

    path: str = attrs.field(validator=required_absolute_path)
    data: bytes = attrs.field(validator=_bytes_value, repr=lambda d: f"<{len(d)} bytes>")
    filename: str = attrs.field(validator=_file_name)
    boundary: str | None = attrs.field(default=None, eq=False, validator=_boundary_value)

    def parts(self) -> list[Part]:
        """The two parts, in the order the service's own client sends them."""
        return [Part("path", self.path), Part("file", self.data, filename=self.filename)]


def _derived_boundary(args: FileUpload) -> str:
    import hashlib  # here: only uploads need it

    seed = hashlib.sha256()
    for piece in (args.path.encode(), args.filename.encode(), args.data):
        seed.update(len(piece).to_bytes(8, "big"))
        seed.update(piece)
    while True:
        boundary = seed.hexdigest()[:32]
        marker = b"--" + boundary.encode("ascii")
        if marker not in args.data and marker not in args.path.encode():
            return boundary
        seed.update(b"\x00")


def _encode_upload(args: FileUpload) -> tuple[bytes, bytes]:
    return encode_multipart(args.parts(), args.boundary or _derived_boundary(args))


def _parse_upload(request: Request, _values: dict[str, Any]) -> FileUpload:
    content_type = request.header("content-type")
    if content_type is None or not content_type.lower().startswith("multipart/form-data"):
        raise RemoteProtocolError("files.upload needs a multipart/form-data body", status_hint=415)
    parts = decode_multipart(content_type, request.body or b"", max_parts=UPLOAD_MAX_PARTS)
    found: dict[str, Any] = {}
    for part in parts:
        if part.name not in ("path", "file"):
            raise RemoteProtocolError(f"unknown part {part.name!r} in upload", kind="unknown_field")
        if part.name in found:
            raise RemoteProtocolError(
                f"part {part.name!r} appears twice in upload", kind="malformed_body"
            )
        found[part.name] = part
    if "file" not in found:
        raise RemoteProtocolError("upload has no 'file' part", kind="missing_field")
    if "path" not in found:
        raise RemoteProtocolError("upload has no 'path' part", kind="missing_field")
    try:
        path = found["path"].data.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError(
            "upload 'path' part is not UTF-8 text", kind="invalid_value"
        ) from None
    filename = found["file"].filename
    if filename is None:
        raise RemoteProtocolError("upload 'file' part has no filename", kind="missing_field")
    return FileUpload(path, found["file"].data, filename, boundary=boundary_of(content_type))


def streamed_upload(path: str, filename: str, size: int, boundary: str) -> MultipartEncoder:
    """The encoder of an upload whose ``size`` file bytes the caller streams.

    Write ``head(0)``, the path (part 0 is in memory: use :meth:`MultipartEncoder.segments`),
    then stream the file into the :class:`~hopx_proto._multipart.StreamSlot`;
    ``content_length()`` gives the ``Content-Length`` header beforehand.
    """
    checked = FileUpload(path, b"", filename)  # validates path and filename
    return MultipartEncoder(
        [Part("path", checked.path), Part("file", None, filename=filename, size=size)], boundary
    )


@attrs.frozen(repr=False, eq=False, slots=False)
class FileWatch(Value):
    """``/files/watch`` takes no arguments in the URL; the path goes in the first message."""


FILES_READ = Operation(
    name="files.read",
    plane=Plane.AGENT,
    method="GET",
    path="/files/read",
    args=FilePath,
    result=model(FileContent),
    summary="Read a file as text.",
)

FILES_DOWNLOAD = Operation(
    name="files.download",
    plane=Plane.AGENT,
    method="GET",
    path="/files/download",
    args=FilePath,
    result=BINARY,
    summary="Download a file's raw bytes.",
)

FILES_EXISTS = Operation(
    name="files.exists",
    plane=Plane.AGENT,
    method="GET",
    path="/files/exists",
    args=FilePath,
    result=model(FileExists),
    summary="Whether a path exists.",
)

FILES_LIST = Operation(
    name="files.list",
    plane=Plane.AGENT,
    method="GET",
    path="/files/list",
    args=FilesList,
    result=model(FileList),
    summary="List a directory.",
)

FILES_MKDIR = Operation(
    name="files.mkdir",
    plane=Plane.AGENT,
    method="POST",
    path="/files/mkdir",
    args=FileMkdir,
    result=model(FileResult),
    idempotent=True,
    summary="Create a directory and its parents.",
)

FILES_REMOVE = Operation(
    name="files.remove",
    plane=Plane.AGENT,
    method="DELETE",
    path="/files/remove",
    args=FilePath,
    result=model(FileResult),
    summary="Remove a file, or a directory recursively.",
)

FILES_UPLOAD = Operation(
    name="files.upload",
    plane=Plane.AGENT,
    method="POST",
    path="/files/upload",
    args=FileUpload,
    result=model(FileResult),
    multipart=True,
    encode_body=_encode_upload,
    parse_body=_parse_upload,
    summary="Upload a file as multipart/form-data.",
)

FILES_WRITE = Operation(
    name="files.write",
    plane=Plane.AGENT,
    method="POST",
    path="/files/write",
    args=FileWrite,
    result=model(FileResult),
    summary="Create or overwrite a file from text or base64.",
)

FILES_WATCH = Operation(
    name="files.watch",
    plane=Plane.AGENT,
    method="GET",
    path="/files/watch",
    args=FileWatch,
    result=NO_CONTENT,
    success=101,
    websocket=True,
    summary="Filesystem change events (WebSocket).",
)
