"""The operation: one endpoint, four pure functions.

Client side: ``encode(args) -> Request`` and ``decode(Response) -> result`` (or raise the mapped
error). Server side: ``parse(Request) -> args`` (or raise :class:`RemoteProtocolError` with a
status hint) and ``render(result) -> Response``. Arguments are ``@attrs.frozen`` classes whose
fields say where they travel: :func:`path_param`, :func:`query`, :func:`body` (a key of the JSON
body) or :func:`whole_body` (the JSON body is this one mapping).
"""

from __future__ import annotations

import enum
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

import attrs

from .._codec import dumps, from_wire, loads, to_wire
from .._errors import (
    HopxError,
    LocalProtocolError,
    RemoteProtocolError,
    error_from_agent_response,
    error_from_control_response,
    excerpt,
)
from .._http import Request, Response
from .._url import (
    BaseURL,
    encode_query,
    parse_query,
    quote_path_param,
    split_target,
    unquote_path_param,
)
from .._value import Value

__all__ = [
    "Auth",
    "Binary",
    "Loc",
    "Model",
    "NoArgs",
    "NoContent",
    "Operation",
    "Plane",
    "RawJSON",
    "ResultCodec",
    "Text",
    "body",
    "path_param",
    "query",
    "whole_body",
]

A = TypeVar("A")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

JSON_TYPE = b"application/json"


@attrs.frozen(repr=False, eq=False)
class NoArgs(Value):
    """Arguments of an operation that takes none (and sends no body)."""


class Plane(enum.Enum):
    CONTROL = "control"
    AGENT = "agent"


class Auth(enum.Enum):
    """Which credential an operation sends."""

    NONE = "none"
    API_KEY = "api_key"  # X-API-Key: <key>
    BEARER_API_KEY = "bearer_api_key"  # Authorization: Bearer <key> (template builds)
    BEARER_JWT = "bearer_jwt"  # Authorization: Bearer <sandbox JWT>


class Loc(enum.Enum):
    PATH = "path"
    QUERY = "query"
    BODY = "body"
    WHOLE_BODY = "whole_body"


_LOC = "hopx_loc"
_NAME = "hopx_wire"


def _field(
    loc: Loc, name: str | None, default: Any, factory: Any, validator: Any, keep_none: bool = False
) -> Any:
    metadata = {_LOC: loc, _NAME: name, "hopx_aliases": (), "hopx_keep_none": keep_none}
    if factory is not None:
        return attrs.field(factory=factory, metadata=metadata, validator=validator)
    return attrs.field(default=default, metadata=metadata, validator=validator)


def path_param(name: str | None = None, *, validator: Any = None) -> Any:
    """A field carried in the URL path (percent-encoded)."""
    return _field(Loc.PATH, name, attrs.NOTHING, None, validator)


def query(name: str | None = None, *, default: Any = None, validator: Any = None) -> Any:
    """A field carried in the query string; ``None`` leaves it out."""
    return _field(Loc.QUERY, name, default, None, validator)


def body(
    name: str | None = None,
    *,
    default: Any = attrs.NOTHING,
    factory: Any = None,
    validator: Any = None,
    keep_none: bool = False,
) -> Any:
    """A key of the JSON request body; ``None`` leaves it out unless ``keep_none``."""
    return _field(Loc.BODY, name, default, factory, validator, keep_none)


def whole_body(*, validator: Any = None) -> Any:
    """The whole JSON body is this field (a free-form mapping)."""
    return _field(Loc.WHOLE_BODY, None, attrs.Factory(dict), None, validator)


# ---------------------------------------------------------------------------------------------
# Result codecs


class ResultCodec(Protocol[R_co]):
    """How a successful response body maps to a result, and back."""

    @property
    def content_type(self) -> bytes: ...

    def decode(self, response: Response) -> R_co: ...

    def render(self, result: Any) -> bytes: ...


def _json_body(response: Response) -> Any:
    body = response.body or b""
    ctype = (response.header("content-type") or "").lower()
    if ctype and "json" not in ctype:
        raise RemoteProtocolError(f"expected a JSON body, got content-type {ctype!r}")
    return loads(body)


@attrs.frozen(repr=False, eq=False)
class Model(Value, Generic[R]):
    """The body is a JSON object decoded into an attrs model."""

    cls: type[R]
    content_type: bytes = JSON_TYPE

    def decode(self, response: Response) -> R:
        return from_wire(self.cls, _json_body(response))

    def render(self, result: Any) -> bytes:
        return dumps(to_wire(result))


@attrs.frozen(repr=False, eq=False)
class RawJSON(Value):
    """A free-form JSON object, returned as a ``dict``; an empty body (204) reads as ``{}``."""

    content_type: bytes = JSON_TYPE

    def decode(self, response: Response) -> dict[str, Any]:
        if not response.body or response.status == 204:
            return {}
        value = loads(response.body)
        if not isinstance(value, dict):
            raise RemoteProtocolError(f"expected a JSON object, got {type(value).__name__}")
        return value

    def render(self, result: Any) -> bytes:
        return dumps(to_wire(result))


@attrs.frozen(repr=False, eq=False)
class NoContent(Value):
    """Success carries nothing the caller needs; any body is accepted and ignored."""

    content_type: bytes = JSON_TYPE

    def decode(self, response: Response) -> None:
        return None

    def render(self, result: Any) -> bytes:
        return dumps(to_wire(result) if result is not None else {})


@attrs.frozen(repr=False, eq=False)
class Binary(Value):
    """Raw bytes (downloads, screenshots); never guessed at as base64."""

    content_type: bytes = b"application/octet-stream"

    def decode(self, response: Response) -> bytes:
        return response.body or b""

    def render(self, result: Any) -> bytes:
        if not isinstance(result, bytes | bytearray | memoryview):
            raise LocalProtocolError("a binary result must be bytes")
        return bytes(result)


@attrs.frozen(repr=False, eq=False)
class Text(Value):
    """A UTF-8 text body (e.g. Prometheus exposition)."""

    content_type: bytes = b"text/plain; charset=utf-8"

    def decode(self, response: Response) -> str:
        try:
            return (response.body or b"").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(f"text body is not UTF-8: {exc}") from None

    def render(self, result: Any) -> bytes:
        if not isinstance(result, str):
            raise LocalProtocolError("a text result must be str")
        return result.encode("utf-8")


# ---------------------------------------------------------------------------------------------
# The operation


@attrs.frozen(repr=False, eq=False)
class _ArgField(Value):
    attr: str
    key: str
    loc: Loc
    tp: Any
    required: bool
    keep_none: bool


_arg_plans: dict[type, list[_ArgField]] = {}


def _arg_plan(cls: type) -> list[_ArgField]:
    plan = _arg_plans.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = [
            _ArgField(
                attr=f.name,
                key=f.metadata.get(_NAME) or f.name,
                loc=f.metadata.get(_LOC, Loc.BODY),
                tp=hints[f.name],
                required=f.default is attrs.NOTHING,
                keep_none=bool(f.metadata.get("hopx_keep_none", False)),
            )
            for f in attrs.fields(cls)
        ]
        _arg_plans[cls] = plan
    return plan


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _query_value(tp: Any, text: str, key: str) -> Any:
    inner = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
    target = inner[0]
    if target is bool:
        if text.lower() in ("true", "1"):
            return True
        if text.lower() in ("false", "0"):
            return False
        raise RemoteProtocolError(
            f"query parameter {key!r} must be true or false", kind="invalid_value"
        )
    if target is int:
        try:
            return int(text)
        except ValueError:
            raise RemoteProtocolError(
                f"query parameter {key!r} must be an integer", kind="invalid_value"
            ) from None
    if target is float:
        try:
            return float(text)
        except ValueError:
            raise RemoteProtocolError(
                f"query parameter {key!r} must be a number", kind="invalid_value"
            ) from None
    return text


_PARAM_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


#: Path templates compiled on first use (servers match paths; clients never need them).
_path_regexes: dict[str, re.Pattern[str]] = {}


def _compile_path(template: str) -> re.Pattern[str]:
    pattern = ""
    pos = 0
    for m in _PARAM_RE.finditer(template):
        pattern += re.escape(template[pos : m.start()]) + f"(?P<{m.group(1)}>[^/]+)"
        pos = m.end()
    pattern += re.escape(template[pos:])
    return re.compile(f"^{pattern}$")


@attrs.frozen(repr=False, eq=False)
class Operation(Value, Generic[A, R]):
    """One endpoint of the control plane or of the agent.

    Attributes:
        name: a stable dotted name, e.g. ``"sandboxes.create"``.
        plane: control plane or agent.
        method, path: the HTTP method and path template (``/v1/sandboxes/{id}``).
        args: the attrs class of the arguments.
        result: how the success body maps to the result.
        success: the status the service answers with on success.
        idempotent: whether repeating the request is harmless (retry policy).
        auth: which credential the request carries.
        in_spec: False for paths the official clients call that the OpenAPI files lack.
        websocket: the path upgrades to a WebSocket (the stream machines take over).
        multipart: the body is ``multipart/form-data`` (see ``_multipart``).
    """

    name: str
    plane: Plane
    method: str
    path: str
    args: type[A]
    result: ResultCodec[R]
    success: int = 200
    idempotent: bool | None = None
    auth: Auth | None = None
    in_spec: bool = True
    websocket: bool = False
    multipart: bool = False
    summary: str = ""
    encode_body: Callable[[A], tuple[bytes, bytes]] | None = None
    parse_body: Callable[[Request, dict[str, Any]], A] | None = None

    @property
    def is_idempotent(self) -> bool:
        if self.idempotent is not None:
            return self.idempotent
        return self.method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")

    @property
    def credential(self) -> Auth:
        if self.auth is not None:
            return self.auth
        return Auth.API_KEY if self.plane is Plane.CONTROL else Auth.BEARER_JWT

    # -- client side ------------------------------------------------------------------------

    def target(self, args: A) -> str:
        """The request target (path and query) for ``args``."""
        plan = _arg_plan(type(args))
        path = self.path
        pairs: list[tuple[str, str]] = []
        for f in plan:
            value = getattr(args, f.attr)
            if f.loc is Loc.PATH:
                if not isinstance(value, str) or not value:
                    raise LocalProtocolError(f"{self.name}: {f.attr} must be a non-empty string")
                path = path.replace("{" + f.key + "}", quote_path_param(value))
            elif f.loc is Loc.QUERY and value is not None:
                pairs.append((f.key, _query_text(value)))
        return path + ("?" + encode_query(pairs) if pairs else "")

    def json_body(self, args: A) -> Any:
        """The JSON body for ``args`` (``None`` when the request has none)."""
        plan = _arg_plan(type(args))
        out: dict[str, Any] = {}
        has_body = False
        for f in plan:
            if f.loc is Loc.WHOLE_BODY:
                return to_wire(getattr(args, f.attr))
            if f.loc is Loc.BODY:
                has_body = True
                value = getattr(args, f.attr)
                if value is None and not f.keep_none:
                    continue
                out[f.key] = to_wire(value)
        return out if has_body else None

    def encode(self, args: A, *, auth: str | None = None, base: BaseURL | None = None) -> Request:
        """The request for ``args``, with the credential header when ``auth`` is given.

        With ``base`` (the control plane's or the agent's URL) the target carries the base's
        path prefix and the ``Host`` header is set; without it both are left to the caller.
        """
        try:
            request = self._encode(args, auth)
            if base is not None:
                request = attrs.evolve(request, target=base.prefix + request.target)
                request = request.with_headers(("host", base.host_header))
            return request
        except LocalProtocolError as exc:
            if exc.operation is None:
                exc.operation = self.name  # say which call the refused value was for
            raise
        except UnicodeEncodeError as exc:
            raise LocalProtocolError(
                f"{self.name}: text cannot be sent ({exc.encoding} cannot encode it: {exc.reason})"
            ) from None

    def _encode(self, args: A, auth: str | None) -> Request:
        if not isinstance(args, self.args):
            raise LocalProtocolError(
                f"{self.name} takes {self.args.__name__}, not {type(args).__name__}"
            )
        headers: list[tuple[bytes, bytes]] = [(b"accept", b"application/json")]
        if auth is not None:
            cred = self.credential
            if cred is Auth.API_KEY:
                headers.append((b"x-api-key", auth.encode("latin-1")))
            elif cred in (Auth.BEARER_API_KEY, Auth.BEARER_JWT):
                headers.append((b"authorization", b"Bearer " + auth.encode("latin-1")))
        payload = b""
        if self.encode_body is not None:
            content_type, payload = self.encode_body(args)
            headers.append((b"content-type", content_type))
        else:
            doc = self.json_body(args)
            if doc is not None:
                payload = dumps(doc)
                headers.append((b"content-type", JSON_TYPE))
        return Request(self.method, self.target(args), tuple(headers), payload)

    def error(
        self,
        response: Response,
        *,
        sandbox_id: str | None = None,
        path: str | None = None,
    ) -> HopxError:
        """The exception for an error response of this operation."""
        body = response.body or b""
        if self.plane is Plane.CONTROL:
            return error_from_control_response(
                response.status,
                response.headers,
                body,
                operation=self.name,
                sandbox_id=sandbox_id,
            )
        return error_from_agent_response(
            response.status,
            response.headers,
            body,
            operation=self.name,
            sandbox_id=sandbox_id,
            path=path,
        )

    def decode(
        self, response: Response, *, sandbox_id: str | None = None, path: str | None = None
    ) -> R:
        """The result of a response, or raise the mapped error."""
        if not 200 <= response.status < 300:
            raise self.error(response, sandbox_id=sandbox_id, path=path)
        try:
            return self.result.decode(response)
        except RemoteProtocolError as exc:
            raise RemoteProtocolError(
                f"malformed {self.name} response (HTTP {response.status}): {exc.message}; "
                f"body: {excerpt(response.body or b'')}",
                operation=self.name,
                status_code=response.status,
                sandbox_id=sandbox_id,
                request_id=response.header("x-request-id"),
                kind=exc.kind,
            ) from None

    # -- server side ------------------------------------------------------------------------

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters if ``method path`` is this operation, else ``None``."""
        if method != self.method:
            return None
        regex = _path_regexes.get(self.path)
        if regex is None:
            regex = _path_regexes[self.path] = _compile_path(self.path)
        m = regex.match(path)
        if m is None:
            return None
        try:
            return {k: unquote_path_param(v) for k, v in m.groupdict().items()}
        except UnicodeDecodeError:
            return None

    def parse(self, request: Request) -> A:
        """The arguments of a request; :class:`RemoteProtocolError` (status hint 4xx) if bad.

        The error's ``kind`` tells a server which error code to answer with: ``invalid_json``,
        ``missing_field``, ``unknown_field``, ``invalid_value``, or ``malformed_body`` for a
        broken multipart body (``None`` from a body hook that does not say).
        """
        path, raw_query = split_target(request.target)
        params = self.match(request.method, path)
        if params is None:
            raise RemoteProtocolError(
                f"{request.method} {path} is not {self.name}", status_hint=404
            )
        query_pairs = dict(parse_query(raw_query))
        doc: Any = None
        if self.parse_body is None and (request.body or b"").strip():
            doc = loads(request.body or b"", what="request body")
        try:
            if self.parse_body is not None:
                values: dict[str, Any] = {}
                self._fill_path_query(values, params, query_pairs)
                return self.parse_body(request, values)
            return self._parse_fields(params, query_pairs, doc)
        except LocalProtocolError as exc:  # a validator refused a value
            raise RemoteProtocolError(
                str(exc.message), status_hint=400, kind="invalid_value"
            ) from None
        except (TypeError, ValueError) as exc:
            raise RemoteProtocolError(
                f"invalid request: {exc}", status_hint=400, kind="invalid_value"
            ) from None

    def _fill_path_query(
        self, values: dict[str, Any], params: Mapping[str, str], query_pairs: Mapping[str, str]
    ) -> None:
        for f in _arg_plan(self.args):
            if f.loc is Loc.PATH:
                values[f.attr] = params[f.key]
            elif f.loc is Loc.QUERY and f.key in query_pairs:
                values[f.attr] = _query_value(f.tp, query_pairs[f.key], f.key)
            elif f.loc is Loc.QUERY and f.required:
                raise RemoteProtocolError(
                    f"missing query parameter {f.key!r}", kind="missing_field"
                )

    def _parse_fields(
        self, params: Mapping[str, str], query_pairs: Mapping[str, str], doc: Any
    ) -> A:
        plan = _arg_plan(self.args)
        values: dict[str, Any] = {}
        self._fill_path_query(values, params, query_pairs)
        body_fields = [f for f in plan if f.loc is Loc.BODY]
        whole = [f for f in plan if f.loc is Loc.WHOLE_BODY]
        if whole:
            if doc is None:
                doc = {}
            if not isinstance(doc, dict):
                raise RemoteProtocolError(
                    "request body must be a JSON object", kind="invalid_value"
                )
            values[whole[0].attr] = doc
        elif body_fields:
            if doc is None:
                doc = {}
            if not isinstance(doc, dict):
                raise RemoteProtocolError(
                    "request body must be a JSON object", kind="invalid_value"
                )
            extra = [k for k in doc if k not in {f.key for f in body_fields}]
            if extra:
                raise RemoteProtocolError(
                    f"unknown field(s) in request body: {', '.join(extra)}", kind="unknown_field"
                )
            for f in body_fields:
                if f.key in doc:
                    values[f.attr] = from_wire(f.tp, doc[f.key], path=f.key)
                elif f.required:
                    raise RemoteProtocolError(
                        f"missing required field {f.key!r}", kind="missing_field"
                    )
        return self.args(**values)

    def render(
        self,
        result: Any,
        *,
        status: int | None = None,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> Response:
        """The success response carrying ``result``."""
        payload = self.result.render(result)
        return Response(
            status or self.success,
            ((b"content-type", self.result.content_type), *headers),
            payload,
        )
