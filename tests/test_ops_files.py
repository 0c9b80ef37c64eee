"""File, desktop and update operations: escaping, bodies, uploads, results and errors."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, strategies as st

from hopx_proto._codec import from_wire, to_wire
from hopx_proto._errors import (
    DesktopNotAvailableError,
    FileNotFoundError,
    FileOperationError,
    LocalProtocolError,
    RemoteProtocolError,
)
from hopx_proto._http import Request, Response
from hopx_proto._models.desktop import (
    DisplayInfo,
    DisplayResolutions,
    RecordingInfo,
    ScreenshotResponse,
)
from hopx_proto._models.files import FileChange, FileExists, FileInfo, FileList
from hopx_proto._multipart import StreamSlot, decode_multipart
from hopx_proto._ops import OPERATIONS, Plane, desktop as D, files as F, route

JWT = "jwt-token"
QUERY_PATH_OPS = [F.FILES_READ, F.FILES_DOWNLOAD, F.FILES_EXISTS, F.FILES_REMOVE]


def _json_response(status: int, doc: Any, ctype: str = "application/json") -> Response:
    return Response(status, [("content-type", ctype)], json.dumps(doc).encode())


# ---------------------------------------------------------------------------------------------
# Paths in the query string

absolute_paths = st.text(min_size=0, max_size=40).map(lambda s: "/" + s.replace("\x00", ""))


@pytest.mark.parametrize("op", QUERY_PATH_OPS, ids=lambda op: op.name)
@given(path=absolute_paths)
def test_any_absolute_path_survives_encode_then_parse(op: Any, path: str) -> None:
    request = op.encode(F.FilePath(path), auth=JWT)
    assert request.body == b""
    assert request.target.count("?") == 1
    assert "#" not in request.target
    assert " " not in request.target
    assert op.parse(request) == F.FilePath(path)


def test_the_path_that_the_official_async_client_breaks() -> None:
    path = "/workspace/a b&c=d?e#f.txt"
    request = F.FILES_READ.encode(F.FilePath(path), auth=JWT)
    assert request.target == "/files/read?path=/workspace/a%20b%26c%3Dd%3Fe%23f.txt"
    assert F.FILES_READ.parse(request).path == path
    # What the official async client sent for the same path loses everything after '&'.
    broken = Request("GET", "/files/read?path=/workspace/a%20b&c=d?e")
    assert F.FILES_READ.parse(broken).path == "/workspace/a b"


def test_form_encoded_paths_from_the_official_sync_client_parse() -> None:
    request = Request("DELETE", "/files/remove?path=%2Fworkspace%2Fa+b%26c.txt")
    assert F.FILES_REMOVE.parse(request) == F.FilePath("/workspace/a b&c.txt")


@pytest.mark.parametrize("bad", ["relative.txt", "", "/nul\x00byte", None, 42])
def test_paths_must_be_absolute_before_any_bytes(bad: Any) -> None:
    with pytest.raises(LocalProtocolError):
        F.FilePath(bad)
    with pytest.raises(LocalProtocolError):
        F.FileMkdir(bad)
    with pytest.raises(LocalProtocolError):
        F.FileWrite(bad, "x")


def test_list_defaults_to_workspace_both_ways() -> None:
    request = F.FILES_LIST.encode(F.FilesList(), auth=JWT)
    assert request.target == "/files/list?path=/workspace"
    assert F.FILES_LIST.parse(Request("GET", "/files/list")) == F.FilesList("/workspace")


def test_credential_is_the_sandbox_jwt() -> None:
    request = F.FILES_READ.encode(F.FilePath("/workspace/x"), auth=JWT)
    assert request.header("authorization") == f"Bearer {JWT}"


# ---------------------------------------------------------------------------------------------
# Writes


def test_write_body_key_order_and_omitted_nones() -> None:
    request = F.FILES_WRITE.encode(F.FileWrite("/workspace/a.txt", "abc", "0644"), auth=JWT)
    assert request.body == b'{"path":"/workspace/a.txt","content":"abc","mode":"0644"}'
    full = F.FileWrite("/workspace/a.txt", "YWJj", mode="0600", encoding="base64", overwrite=True)
    body = F.FILES_WRITE.encode(full).body
    assert body == (
        b'{"path":"/workspace/a.txt","content":"YWJj","mode":"0600",'
        b'"encoding":"base64","overwrite":true}'
    )
    bare = F.FileWrite("/workspace/a.txt", "abc")
    assert F.FILES_WRITE.encode(bare).body == b'{"path":"/workspace/a.txt","content":"abc"}'
    assert F.FILES_WRITE.parse(F.FILES_WRITE.encode(bare)) == bare  # absent reads back as None


def test_write_from_bytes_is_base64_and_round_trips() -> None:
    data = b"\x00\x01\xffbinary"
    args = F.FileWrite.from_bytes("/workspace/img.bin", data)
    assert args.encoding == "base64"
    assert args.content == base64.b64encode(data).decode()
    assert args.data == data
    assert F.FileWrite("/workspace/t.txt", "é").data == "é".encode()
    assert F.FILES_WRITE.parse(F.FILES_WRITE.encode(args)) == args
    with pytest.raises(LocalProtocolError):
        F.FileWrite.from_bytes("/workspace/x", "text")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "644x"},
        {"mode": "99"},
        {"mode": 644},
        {"encoding": "hex"},
        {"encoding": "base64"},  # content "not base64!" is not base64
        {"overwrite": "yes"},
        {"content": b"bytes"},
    ],
)
def test_write_refuses_bad_arguments(kwargs: dict[str, Any]) -> None:
    values: dict[str, Any] = {"path": "/workspace/x", "content": "not base64!", **kwargs}
    with pytest.raises(LocalProtocolError):
        F.FileWrite(**values)


# ---------------------------------------------------------------------------------------------
# Uploads


def test_upload_sends_path_then_file_and_parses_back() -> None:
    data = bytes(range(256)) * 4
    args = F.FileUpload("/workspace/up loaded.bin", data, "local data.bin")
    request = F.FILES_UPLOAD.encode(args, auth=JWT)
    content_type = request.header("content-type")
    assert content_type is not None
    assert content_type.startswith("multipart/form-data; boundary=")
    parts = decode_multipart(content_type, request.body or b"")
    assert [(p.name, p.filename, p.content_type) for p in parts] == [
        ("path", None, None),
        ("file", "local data.bin", "application/octet-stream"),
    ]
    assert parts[0].data == b"/workspace/up loaded.bin"
    assert parts[1].data == data
    parsed = F.FILES_UPLOAD.parse(request)
    assert parsed == args
    assert parsed.boundary == content_type.split("boundary=")[1]


def test_upload_boundary_is_deterministic_or_the_callers() -> None:
    args = F.FileUpload("/workspace/x", b"abc", "x")
    assert F.FILES_UPLOAD.encode(args).body == F.FILES_UPLOAD.encode(args).body
    given_boundary = F.FileUpload("/workspace/x", b"abc", "x", boundary="0123456789abcdef")
    request = F.FILES_UPLOAD.encode(given_boundary)
    assert request.header("content-type") == "multipart/form-data; boundary=0123456789abcdef"
    assert given_boundary == args  # the boundary takes no part in equality


def test_upload_content_holding_the_derived_boundary_gets_another() -> None:
    plain = F.FileUpload("/workspace/x", b"abc", "x")
    ctype = F.FILES_UPLOAD.encode(plain).header("content-type") or ""
    first = ctype.split("boundary=")[1]
    # Content that contains the first choice: the derivation moves on to a fresh boundary.
    tricky = F.FileUpload("/workspace/x", b"abc--" + first.encode(), "x")
    request = F.FILES_UPLOAD.encode(tricky)
    assert F.FILES_UPLOAD.parse(request).data == tricky.data


def test_upload_refuses_a_caller_boundary_inside_the_content() -> None:
    args = F.FileUpload("/workspace/x", b"data --zz data", "x", boundary="zz")
    with pytest.raises(LocalProtocolError, match="boundary"):
        F.FILES_UPLOAD.encode(args)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"path": "rel"},
        {"data": "text"},
        {"filename": ""},
        {"filename": "bad\ud800"},
        {"boundary": 5},
    ],
)
def test_upload_refuses_bad_arguments(kwargs: dict[str, Any]) -> None:
    values: dict[str, Any] = {"path": "/workspace/x", "data": b"x", "filename": "x", **kwargs}
    with pytest.raises(LocalProtocolError):
        F.FileUpload(**values)


def test_streamed_upload_matches_the_in_memory_one() -> None:
    data = b"0123456789" * 1000
    boundary = "feedface" * 4
    whole = F.FILES_UPLOAD.encode(F.FileUpload("/workspace/big", data, "big", boundary=boundary))
    encoder = F.streamed_upload("/workspace/big", "big", len(data), boundary)
    assert encoder.content_length() == len(whole.body or b"")
    out = bytearray()
    for segment in encoder.segments():
        out += data if isinstance(segment, StreamSlot) else segment
    assert bytes(out) == whole.body
    assert encoder.content_type.decode() == whole.header("content-type")
    with pytest.raises(LocalProtocolError):
        F.streamed_upload("relative", "big", 1, boundary)


def _upload_request(ctype: str, body: bytes) -> Request:
    return Request("POST", "/files/upload", [("content-type", ctype)], body)


@pytest.mark.parametrize(
    ("ctype", "body", "match", "kind"),
    [
        ("application/json", b"{}", "multipart", None),
        ("multipart/form-data; boundary=b", b"--b--", "no 'file' part", "missing_field"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nx\r\n--b--',
            "no 'path' part",
            "missing_field",
        ),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nx\r\n'
            b'--b\r\nContent-Disposition: form-data; name="path"\r\n\r\n/w\r\n--b--',
            "no filename",
            "missing_field",
        ),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--b--',
            "unknown part",
            "unknown_field",
        ),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="path"\r\n\r\n/a\r\n'
            b'--b\r\nContent-Disposition: form-data; name="path"\r\n\r\n/b\r\n--b--',
            "twice",
            "malformed_body",
        ),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="path"\r\n\r\nrelative\r\n'
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nx\r\n--b--',
            "absolute",
            "invalid_value",
        ),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="path"\r\n\r\n\xff\r\n'
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nx\r\n--b--',
            "UTF-8",
            "invalid_value",
        ),
    ],
)
def test_server_side_upload_parse_refuses_bad_bodies(
    ctype: str, body: bytes, match: str, kind: str | None
) -> None:
    with pytest.raises(RemoteProtocolError, match=match) as info:
        F.FILES_UPLOAD.parse(_upload_request(ctype, body))
    assert info.value.kind == kind


def test_server_side_upload_accepts_parts_in_any_order() -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\n\r\nhi\r\n'
        b'--b\r\nContent-Disposition: form-data; name="path"\r\n\r\n/workspace/f.txt\r\n--b--\r\n'
    )
    args = F.FILES_UPLOAD.parse(_upload_request('multipart/form-data; boundary="b"', body))
    assert (args.path, args.data, args.filename, args.boundary) == (
        "/workspace/f.txt",
        b"hi",
        "f.txt",
        "b",
    )


# ---------------------------------------------------------------------------------------------
# Results


def test_download_is_raw_bytes_even_when_they_look_like_base64() -> None:
    response = Response(200, [("content-type", "application/octet-stream")], b"dGVzdA==")
    assert F.FILES_DOWNLOAD.decode(response) == b"dGVzdA=="
    assert F.FILES_DOWNLOAD.render(b"\x00\xff").body == b"\x00\xff"


def test_file_info_reads_both_key_sets_and_is_timezone_aware() -> None:
    legacy = from_wire(
        FileInfo,
        {
            "name": "d",
            "path": "/w/d",
            "size": 2048,
            "is_dir": True,
            "modified": "2026-01-02T03:04:05",
            "mode": "drwxr-xr-x",
            "owner": "root",
        },
    )
    assert legacy.is_directory
    assert legacy.is_dir
    assert not legacy.is_file
    assert legacy.permissions == legacy.mode == "drwxr-xr-x"
    assert (
        legacy.modified_time == legacy.modified == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    )
    assert legacy.size_kb == 2.0
    assert legacy.size_mb == 2048 / (1024 * 1024)
    assert legacy.extra == {"owner": "root"}
    assert to_wire(legacy)["is_directory"] is True
    with pytest.raises(RemoteProtocolError):
        from_wire(FileInfo, {"name": "x", "size": "12"})


def test_file_list_and_exists() -> None:
    listing = F.FILES_LIST.decode(
        _json_response(200, {"files": [{"name": "a", "path": "/w/a", "size": 1}], "count": 1})
    )
    assert isinstance(listing, FileList)
    assert [f.name for f in listing.files] == ["a"]
    assert listing.files[0].is_file
    exists = F.FILES_EXISTS.decode(_json_response(200, {"exists": False}))
    assert exists == FileExists(False)
    assert not exists
    with pytest.raises(RemoteProtocolError, match="exists"):
        F.FILES_EXISTS.decode(_json_response(200, {}))
    with pytest.raises(RemoteProtocolError):
        F.FILES_READ.decode(_json_response(200, {"content": 12}))


def test_file_change_event_model() -> None:
    change = from_wire(
        FileChange,
        {
            "type": "change",
            "path": "/w/n.txt",
            "event": "created",
            "timestamp": "2026-11-27T03:38:57Z",
        },
    )
    assert (change.path, change.event) == ("/w/n.txt", "created")
    assert change.timestamp is not None
    assert change.timestamp.tzinfo is not None


def test_watch_is_a_websocket_upgrade() -> None:
    assert F.FILES_WATCH.websocket
    request = F.FILES_WATCH.encode(F.FileWatch(), auth=JWT)
    assert (request.method, request.target, request.body) == ("GET", "/files/watch", b"")


# ---------------------------------------------------------------------------------------------
# Errors


def test_file_not_found_carries_the_path() -> None:
    body = {"error": "no such file", "code": "FILE_NOT_FOUND", "path": "/workspace/gone"}
    with pytest.raises(FileNotFoundError) as info:
        F.FILES_READ.decode(_json_response(404, body))
    assert info.value.path == "/workspace/gone"
    assert info.value.status_code == 404
    assert info.value.operation == "files.read"
    # Without a path in the body, the caller's path is used.
    with pytest.raises(FileNotFoundError) as info:
        F.FILES_READ.decode(
            _json_response(404, {"error": "nope", "code": "FILE_NOT_FOUND"}), path="/workspace/x"
        )
    assert info.value.path == "/workspace/x"


def test_path_not_allowed_is_a_file_operation_error() -> None:
    body = {"error": "path not allowed", "code": "PATH_NOT_ALLOWED", "path": "/etc/shadow"}
    with pytest.raises(FileOperationError) as info:
        F.FILES_WRITE.decode(_json_response(403, body))
    assert info.value.path == "/etc/shadow"
    assert info.value.code == "PATH_NOT_ALLOWED"


def test_desktop_not_available_lists_missing_packages() -> None:
    body = {
        "error": "no desktop",
        "code": "DESKTOP_NOT_AVAILABLE",
        "details": {"missing_dependencies": ["xvfb", "xdotool"]},
    }
    with pytest.raises(DesktopNotAvailableError) as info:
        D.DESKTOP_VNC_STATUS.decode(_json_response(503, body))
    assert info.value.missing_dependencies == ["xvfb", "xdotool"]
    assert info.value.install_command == "apt-get install -y xvfb xdotool"


# ---------------------------------------------------------------------------------------------
# Desktop and update


def test_official_client_variants_are_marked_out_of_spec() -> None:
    variants = {
        ("GET", "/desktop/screenshot"),
        ("GET", "/desktop/windows"),
        ("GET", "/desktop/display"),
        ("POST", "/desktop/x11/drag_drop"),
        ("POST", "/desktop/x11/find_element"),
        ("POST", "/desktop/x11/wait_for"),
        ("POST", "/desktop/x11/get_bounds"),
        ("GET", "/desktop/x11/capture_window"),
        ("POST", "/desktop/windows/minimize"),
    }
    for op in OPERATIONS.values():
        if op.path.startswith(("/desktop", "/update")):
            assert op.in_spec == ((op.method, op.path) not in variants), op.name
            assert op.plane is Plane.AGENT
    for method, path in variants:
        found = route(Plane.AGENT, method, path)
        assert found is not None, (method, path)


def test_screenshot_get_and_post_route_to_different_operations() -> None:
    get = route(Plane.AGENT, "GET", "/desktop/screenshot")
    post = route(Plane.AGENT, "POST", "/desktop/screenshot")
    assert get is not None
    assert post is not None
    assert get[0] is D.DESKTOP_SCREENSHOT_GET
    assert post[0] is D.DESKTOP_SCREENSHOT_CAPTURE


def test_desktop_bodies_are_the_official_clients() -> None:
    click = {"x": 1, "y": 2, "button": "left", "clicks": 1}
    recording = {"fps": 10, "format": "mp4", "quality": "medium"}
    ocr = {"x": 0, "y": 0, "width": 5, "height": 5, "language": "eng"}
    cases = [
        (D.DESKTOP_VNC_START, D.VncStart(), {"display": 1}),
        (D.DESKTOP_MOUSE_CLICK, D.MouseClick(1, 2), click),
        (D.DESKTOP_MOUSE_SCROLL, D.MouseScroll(3), {"amount": 3, "direction": "down"}),
        (D.DESKTOP_KEYBOARD_TYPE, D.KeyboardType("hi"), {"text": "hi", "delay_ms": 10}),
        (D.DESKTOP_RECORDING_START, D.RecordingStart(), recording),
        (D.DESKTOP_X11_OCR, D.OcrRegion(0, 0, 5, 5), ocr),
        (D.DESKTOP_X11_WAIT_FOR, D.WaitFor("Done"), {"text": "Done", "timeout": 30}),
        (D.DESKTOP_VNC_STOP, D.EmptyBody(), {}),
    ]
    for op, args, doc in cases:
        request = op.encode(args, auth=JWT)
        assert json.loads(request.body or b"") == doc, op.name
        assert list(json.loads(request.body or b"")) == list(doc), op.name  # key order
        assert op.parse(request) == args


@pytest.mark.parametrize(
    "build",
    [
        lambda: D.MouseClick(-1, 0),
        lambda: D.MouseClick(1, 1, button="back"),  # type: ignore[arg-type]
        lambda: D.MouseClick(1, 1, clicks=0),
        lambda: D.MouseMove(True, 1),
        lambda: D.MouseScroll(2, direction="sideways"),  # type: ignore[arg-type]
        lambda: D.KeyCombination("ctrl", "c"),  # type: ignore[arg-type]
        lambda: D.KeyboardPress(""),
        lambda: D.Region(0, 0, 0, 10),
        lambda: D.WindowTarget(""),
        lambda: D.WindowTarget(True),
        lambda: D.RecordingQuery(""),
        lambda: D.VncStart(password=""),
        lambda: D.UpdateUpload("text"),  # type: ignore[arg-type]
    ],
)
def test_desktop_arguments_are_checked_before_any_bytes(build: Any) -> None:
    with pytest.raises(LocalProtocolError):
        build()


def test_recording_id_and_window_id_travel_in_the_query() -> None:
    request = D.DESKTOP_RECORDING_STATUS.encode(D.RecordingQuery("rec 1/2"), auth=JWT)
    assert request.target == "/desktop/recording/status?id=rec%201/2"
    assert D.DESKTOP_RECORDING_STATUS.parse(request) == D.RecordingQuery("rec 1/2")
    none = D.DESKTOP_X11_CAPTURE_WINDOW.encode(D.CaptureWindow())
    assert none.target == "/desktop/x11/capture_window"


def test_desktop_models() -> None:
    png = b"\x89PNG\r\n"
    shot = from_wire(ScreenshotResponse, {"image": base64.b64encode(png).decode(), "format": "png"})
    assert shot.image_bytes() == png
    with pytest.raises(RemoteProtocolError):
        ScreenshotResponse(image="***").image_bytes()
    with pytest.raises(RemoteProtocolError):
        ScreenshotResponse().image_bytes()
    resolutions = from_wire(
        DisplayResolutions, {"resolutions": [{"width": 800, "height": 600}, [1024, 768]]}
    )
    assert resolutions.pairs() == [(800, 600), (1024, 768)]
    with pytest.raises(RemoteProtocolError):
        DisplayResolutions(["800x600"]).pairs()
    with pytest.raises(RemoteProtocolError):
        DisplayResolutions([{"width": True, "height": 1}]).pairs()
    assert from_wire(DisplayInfo, {"width": 1920, "height": 1080}).resolution == "1920x1080"
    recording = from_wire(RecordingInfo, {"recording_id": "r", "status": "recording"})
    assert recording.is_recording
    assert not recording.is_ready
    assert from_wire(RecordingInfo, {"status": "stopped"}).is_ready


def test_update_upload_is_one_multipart_file_part() -> None:
    blob = b"\x7fELF" + bytes(100)
    request = D.UPDATE_UPLOAD.encode(D.UpdateUpload(blob), auth=JWT)
    ctype = request.header("content-type") or ""
    (part,) = decode_multipart(ctype, request.body or b"")
    assert (part.name, part.filename, part.data) == ("file", "hopx-agent", blob)
    assert D.UPDATE_UPLOAD.parse(request) == D.UpdateUpload(blob)
    two = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nx\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="b"\r\n\r\ny\r\n--b--'
    )
    bad = Request(
        "POST", "/update/upload", [("content-type", "multipart/form-data; boundary=b")], two
    )
    with pytest.raises(RemoteProtocolError, match="exactly one part"):
        D.UPDATE_UPLOAD.parse(bad)
