"""``Template.build``: the build flow of ``hopx_ai.template``, written once against a backend.

The flow: check the template; hash and upload each distinct ``COPY`` context (skipped when
the service already has it); start the build; poll its status, and its log when a callback
wants it, in one loop (the official client reads the whole log first and only then looks at
the status); on failure raise :class:`TemplateBuildError` carrying the log; then wait until
the template is active. Every request goes through one :class:`Client`, so retries, typed
errors and deadlines are the client's.

An adapter binds the builder to its event loop as it does ``AsyncSandbox``:
``class Template(aio.Template, backend=TrioBackend)``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import attrs

from .._errors import HopxError, LocalProtocolError, TemplateBuildError, TemplateBuildErrorMetadata
from .._models.control import BuildLogs, BuildStatus, TemplateBuild
from .._ops import control as control_ops
from .._ops._base import Auth, Binary, NoArgs, Operation, Plane
from .._sse import BuildLogPoller, LogLine
from .._template import (
    BuildOptions,
    CreateVMOptions,
    LogsResponse,
    Step,
    StepType,
    Template as TemplateSpec,
    build_request,
    copy_sources,
    validate_template,
)
from .._url import BaseURL
from ._backend import Backend
from ._client import Client
from ._streaming import EventStream
from ._template_files import copy_archive, copy_hash
from ._transport import Timeouts

__all__ = ["VM", "BuildResult", "Template", "build_template", "template_factory"]

T = TypeVar("T", bound="Template")

#: Seconds between status polls: the first soon, then growing to the official 2 s.
FIRST_POLL = 0.25
POLL_CEILING = 2.0
#: The activation wait: two consecutive "active" answers this many seconds apart.
ACTIVATION_INTERVAL = 3.0
ACTIVATION_DEFAULT = 2700
#: Seconds an upload's reads may take (a large context on a slow link).
UPLOAD_READ_TIMEOUT = 300.0
#: Log lines a :class:`TemplateBuildError` keeps (the last ones).
ERROR_LOG_LINES = 200


@dataclasses.dataclass
class VM:
    """A sandbox made from a built template (``hopx_ai``'s ``VM``).

    Attributes:
        vm_id: the sandbox id.
        template_id: the template it was made from.
        status: its status when made.
        ip: its agent's host (``public_host`` without the scheme).
        agent_url: its agent's URL (``public_host``).
        started_at: when it was created (ISO 8601).
        _delete_func: kills it (:meth:`delete`).
        sandbox: the :class:`AsyncSandbox` itself.
    """

    vm_id: str
    template_id: str
    status: str
    ip: str
    agent_url: str
    started_at: str
    _delete_func: Callable[[], Awaitable[None]] | None = None
    sandbox: Any = dataclasses.field(default=None, kw_only=True)

    async def delete(self) -> None:
        """Kill the sandbox."""
        if self._delete_func is not None:
            await self._delete_func()


@dataclasses.dataclass
class BuildResult:
    """A finished build and helpers to use it (``hopx_ai``'s ``BuildResult``).

    Attributes:
        build_id: the build's id.
        template_id: the built template's id.
        duration: how long the build took, in milliseconds.
        _create_vm_func: makes a sandbox from the template (:meth:`create_vm`).
        _base_url: the control plane the template lives on.
        _api_key: the API key of the build.
        _get_logs_func: polls the build's log (:meth:`get_logs`).
    """

    build_id: str
    template_id: str
    duration: int
    _create_vm_func: Callable[[CreateVMOptions], Awaitable[VM]] | None = None
    _base_url: str | None = None
    _api_key: str | None = dataclasses.field(default=None, repr=False)
    _get_logs_func: Callable[[int], Awaitable[LogsResponse]] | None = dataclasses.field(
        default=None, kw_only=True, repr=False
    )

    async def create_vm(self, options: CreateVMOptions | None = None) -> VM:
        """Create a sandbox from the template.

        Args:
            options: its environment variables (the other fields are not used, as in the
                official client).

        Raises:
            RuntimeError: this result was not made by a build.
        """
        if self._create_vm_func is None:
            raise RuntimeError("create_vm function not available")
        return await self._create_vm_func(options or CreateVMOptions())

    async def get_logs(self, offset: int = 0) -> LogsResponse:
        """One poll of the build's log from ``offset`` on.

        Raises:
            RuntimeError: this result was not made by a build.
        """
        if self._get_logs_func is None:
            raise RuntimeError("get_logs not available - base_url or api_key missing")
        return await self._get_logs_func(offset)


def _logs_response(logs: BuildLogs) -> LogsResponse:
    return LogsResponse(
        logs=logs.logs,
        offset=logs.offset,
        status=logs.status,
        complete=logs.complete,
        request_id=logs.request_id,
    )


def _upload_operation(url: str, data: bytes) -> tuple[BaseURL, Operation[NoArgs, bytes]]:
    """A ``PUT`` of ``data`` to a presigned ``url`` (any host; no credential)."""
    parts = urlsplit(url)
    base = BaseURL.parse(f"{parts.scheme}://{parts.netloc}", what="upload_url")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    op: Operation[NoArgs, bytes] = Operation(
        name="templates.upload",
        plane=Plane.CONTROL,
        method="PUT",
        path=target,
        args=NoArgs,
        result=Binary(),
        auth=Auth.NONE,
        idempotent=True,
        in_spec=False,
        encode_body=lambda _args: (b"application/gzip", data),
        summary="Upload a build context to its presigned URL.",
    )
    return base, op


class _Build:
    """One run of the build flow."""

    def __init__(
        self,
        template: TemplateSpec,
        options: BuildOptions,
        client: Client,
        sandbox_class: Any,
        shared: bool = False,
    ) -> None:
        #: The caller's client (kept for ``create_vm``), not one made for this build.
        self.shared = shared
        self.template = template
        self.options = options
        self.client = client
        self.backend: Backend = client.backend
        self.sandbox_class = sandbox_class
        self.lines: list[str] = []

    # -- steps --------------------------------------------------------------------------------

    async def hashed_steps(self) -> list[Step]:
        context = self.options.context_path or "."
        out: list[Step] = []
        for step in self.template.get_steps():
            if step.type is StepType.COPY:
                sources, dest = copy_sources(step)
                files_hash = await self.backend.run_sync(copy_hash, sources, dest, context)
                step = dataclasses.replace(step, files_hash=files_hash)
            out.append(step)
        return out

    async def upload(self, steps: list[Step]) -> None:
        context = self.options.context_path or "."
        done: set[str] = set()
        for step in steps:
            if step.type is not StepType.COPY or not step.files_hash or step.files_hash in done:
                continue
            sources, _dest = copy_sources(step)
            data = await self.backend.run_sync(copy_archive, sources, context)
            link = await self.client.call(
                control_ops.TEMPLATES_UPLOAD_LINK,
                control_ops.UploadLinkRequest(
                    files_hash=step.files_hash, content_length=max(1, len(data))
                ),
            )
            if not link.present and link.upload_url:
                base, op = _upload_operation(link.upload_url, data)
                await self.client.call(
                    op,
                    NoArgs(),
                    base=base,
                    timeouts=self._upload_timeouts(),
                    deadline=None,
                )
            done.add(step.files_hash)

    def _upload_timeouts(self) -> Timeouts:
        return attrs.evolve(self.client.transport.timeouts, read=UPLOAD_READ_TIMEOUT)

    # -- polling ------------------------------------------------------------------------------

    def _log_line(self, line: LogLine) -> None:
        self.lines.append(line.message)
        del self.lines[:-ERROR_LOG_LINES]
        if self.options.on_log is not None:
            self.options.on_log(line.as_dict())

    async def poll_logs(self, poller: BuildLogPoller) -> None:
        if poller.done:
            return
        try:
            reply = await self.client.call(control_ops.TEMPLATES_BUILD_LOGS, poller.query())
            update = poller.feed(reply)
        except HopxError:
            return  # the log is a convenience: the status decides (as in the official client)
        for line in update.lines:
            self._log_line(line)

    def limit(self) -> int:
        """Seconds the build, then its activation, may each take."""
        limit = self.options.template_activation_timeout
        if limit is None:
            limit = int(self.backend.environ.get("HOPX_TEMPLATE_BAKE_SECONDS", ACTIVATION_DEFAULT))
        return limit

    async def wait(self, started: TemplateBuild) -> BuildStatus:
        poller = BuildLogPoller(started.template_id)
        delay = FIRST_POLL
        last_progress = -1
        end = self.backend.monotonic() + self.limit()
        while True:
            status = await self.client.call(
                control_ops.TEMPLATES_BUILD_STATUS,
                control_ops.BuildId(build_id=started.build_id),
            )
            await self.poll_logs(poller)
            progress = status.progress
            if (
                self.options.on_progress is not None
                and progress is not None
                and progress != last_progress
                and not status.is_terminal
            ):
                last_progress = progress
                self.options.on_progress(progress)
            if status.is_terminal:
                while not poller.done:  # the rest of the log, now that it is final
                    before = poller.offset
                    await self.poll_logs(poller)
                    if poller.offset == before:
                        break
                return status
            if self.backend.monotonic() + delay > end:
                raise TemplateBuildError(
                    f"Template build {started.build_id} did not finish within {self.limit()} s "
                    f"(last status: {status.status})",
                    TemplateBuildErrorMetadata(
                        build_id=started.build_id,
                        template_id=started.template_id,
                        build_status=status.status,
                        logs_url=started.logs_url,
                    ),
                    logs=self.lines,
                    code="template_build_timeout",
                )
            await self.backend.sleep(delay)
            delay = min(POLL_CEILING, delay * 2)

    async def failed(self, started: TemplateBuild, status: BuildStatus) -> TemplateBuildError:
        errors = [line for line in self.lines if "ERROR" in line or "failed" in line.lower()]
        details = "\n".join(errors[-3:]) if errors else (status.error_message or "Unknown error")
        return TemplateBuildError(
            f"Template build failed.\nBuild ID: {started.build_id}\n"
            f"Template ID: {started.template_id}\nStatus: {status.status}\n"
            f"Error: {details}",
            TemplateBuildErrorMetadata(
                build_id=started.build_id,
                template_id=started.template_id,
                build_status=status.status,
                logs_url=started.logs_url,
                error_details=details,
            ),
            logs=self.lines,
            request_id=status.request_id,
            operation=control_ops.TEMPLATES_BUILD_STATUS.name,
        )

    async def activated(self, template_id: str) -> None:
        limit = self.limit()
        end = self.backend.monotonic() + limit
        streak = 0
        last: str | None = None
        while True:
            try:
                found = await self.client.call(
                    control_ops.TEMPLATES_GET, control_ops.TemplateName(name=template_id)
                )
                last = found.status or "unknown"
                if found.status in ("failed", "error"):
                    raise TemplateBuildError(
                        f"Template activation failed: template {template_id} is {last}",
                        TemplateBuildErrorMetadata(template_id=template_id, build_status=last),
                        logs=self.lines,
                    )
                streak = streak + 1 if found.status == "active" and found.is_active else 0
            except TemplateBuildError:
                raise
            except HopxError:
                streak = 0  # the official client tolerates errors here, and so do we
            if streak >= 2:
                return
            if self.backend.monotonic() + ACTIVATION_INTERVAL > end:
                raise TemplateBuildError(
                    f"Template {template_id} did not become active within {limit} s "
                    f"(last status: {last or 'unknown'})",
                    TemplateBuildErrorMetadata(template_id=template_id, build_status=last),
                    logs=self.lines,
                    code="template_activation_timeout",
                )
            await self.backend.sleep(ACTIVATION_INTERVAL)

    # -- the whole flow -----------------------------------------------------------------------

    async def run(self) -> BuildResult:
        validate_template(self.template)
        steps = await self.hashed_steps()
        request = build_request(self.template, steps, self.options)
        await self.upload(steps)
        begun = self.backend.wall_clock()
        started = await self.client.call(control_ops.TEMPLATES_BUILD, request)
        status = await self.wait(started)
        if not status.succeeded:
            raise await self.failed(started, status)
        if self.options.on_progress is not None:
            self.options.on_progress(100)
        template_id = status.template_id or started.template_id
        await self.activated(template_id)
        since = status.started_at.timestamp() if status.started_at is not None else begun
        duration = max(0, int((self.backend.wall_clock() - since) * 1000))
        return self.result(started.build_id, template_id, duration)

    def result(self, build_id: str, template_id: str, duration: int) -> BuildResult:
        options, sandbox_class, client = self.options, self.sandbox_class, self.client
        shared = client if self.shared else None

        async def create_vm(vm_options: CreateVMOptions) -> VM:
            if sandbox_class is None:
                raise LocalProtocolError("create_vm needs the AsyncSandbox of an adapter")
            where: dict[str, Any] = (
                {"client": shared}
                if shared is not None
                else {"api_key": options.api_key, "base_url": options.base_url}
            )
            sandbox = await sandbox_class.create(
                template_id=template_id, env_vars=vm_options.env_vars, **where
            )
            info = sandbox.info or await sandbox.get_info()
            host = info.public_host or ""
            created = info.created_at
            return VM(
                vm_id=sandbox.sandbox_id,
                template_id=info.template_id or template_id,
                status=info.status,
                ip=host.split("://", 1)[1] if "://" in host else host,
                agent_url=host,
                started_at=created.isoformat() if isinstance(created, _dt.datetime) else "",
                _delete_func=sandbox.kill,
                sandbox=sandbox,
            )

        async def get_logs(offset: int) -> LogsResponse:
            return await _poll_logs(
                client.backend, options.api_key, options.base_url, template_id, offset
            )

        return BuildResult(
            build_id=build_id,
            template_id=template_id,
            duration=duration,
            _create_vm_func=create_vm,
            _base_url=options.base_url,
            _api_key=options.api_key,
            _get_logs_func=get_logs,
        )


async def _poll_logs(
    backend: Backend, api_key: str, base_url: str, template_id: str, offset: int
) -> LogsResponse:
    async with Client(backend, api_key=api_key, base_url=base_url) as client:
        reply = await client.call(
            control_ops.TEMPLATES_BUILD_LOGS,
            control_ops.BuildLogsQuery(build_id=template_id, offset=offset),
        )
    return _logs_response(reply)


async def build_template(
    template: TemplateSpec,
    options: BuildOptions,
    *,
    backend: Backend | None = None,
    client: Client | None = None,
    sandbox_class: Any = None,
) -> BuildResult:
    """Build ``template`` and wait until it is active.

    Args:
        template: the template.
        options: the build options.
        backend: the event-loop backend of the client made here.
        client: use this client instead (its API key and base URL, not ``options``').
        sandbox_class: the ``AsyncSandbox`` class :meth:`BuildResult.create_vm` uses.

    Returns:
        The build's ids and duration, and helpers.

    Raises:
        ValueError: the template has no base image or no real step.
        TemplateBuildError: the build failed (with its log) or the template never became
            active.
        LocalProtocolError: a ``COPY`` source is outside the context or matches nothing.
        HopxError: a request failed (typed as for every call).
    """
    if client is not None:
        return await _Build(template, options, client, sandbox_class, shared=True).run()
    if backend is None:
        raise LocalProtocolError(
            "Template.build needs an event loop adapter: use the Template of hopx_asyncio, "
            "hopx_trio or hopx_sync"
        )
    async with Client(backend, api_key=options.api_key, base_url=options.base_url) as made:
        return await _Build(template, options, made, sandbox_class).run()


async def _stream(
    backend: Backend, api_key: str, base_url: str, template_id: str, offset: int
) -> AsyncGenerator[dict[str, str], None]:
    poller = BuildLogPoller(template_id, offset=offset)
    delay = FIRST_POLL
    async with Client(backend, api_key=api_key, base_url=base_url) as client:
        while not poller.done:
            reply: BuildLogs = await client.call(control_ops.TEMPLATES_BUILD_LOGS, poller.query())
            update = poller.feed(reply)
            for line in update.lines:
                yield line.as_dict()
            if update.lines:
                delay = FIRST_POLL
            elif not poller.done:
                await backend.sleep(delay)
                delay = min(POLL_CEILING, delay * 2)


class Template(TemplateSpec):
    """The template builder of ``hopx_ai`` (see :class:`hopx_proto._template.Template`), with
    ``build`` bound to an event loop by the adapter's subclass.

    Args:
        from_image: the base image (``"python:3.11"``, ``"ubuntu:22.04"``, ...).
    """

    #: Makes the backend of a build (set by ``backend=`` on an adapter's subclass).
    _backend_factory: ClassVar[Callable[[], Backend] | None] = None
    #: The adapter's ``AsyncSandbox`` (``BuildResult.create_vm`` makes one).
    _sandbox_class: ClassVar[Any] = None

    def __init_subclass__(
        cls,
        *,
        backend: Callable[[], Backend] | None = None,
        sandbox: Any = None,
        **kw: Any,
    ) -> None:
        super().__init_subclass__(**kw)
        if backend is not None:
            cls._backend_factory = backend
        if sandbox is not None:
            cls._sandbox_class = sandbox

        if "build" in cls.__dict__:
            return  # the subclass defines its own (the blocking one of hopx_sync)
        owner = cls

        @functools.wraps(Template.build)
        async def build(
            template: TemplateSpec, options: BuildOptions, *, client: Client | None = None
        ) -> BuildResult:
            return await owner._build(template, options, client)

        cls.build = staticmethod(build)  # type: ignore[method-assign]

    @classmethod
    async def _build(
        cls, template: TemplateSpec, options: BuildOptions, client: Client | None
    ) -> BuildResult:
        factory = cls._backend_factory
        return await build_template(
            template,
            options,
            backend=factory() if factory is not None and client is None else None,
            client=client,
            sandbox_class=cls._sandbox_class,
        )

    @staticmethod
    async def build(
        template: TemplateSpec, options: BuildOptions, *, client: Client | None = None
    ) -> BuildResult:
        """Build ``template``: upload its ``COPY`` sources, run the build, follow its log and
        status, and wait until the template is active.

        Args:
            template: the template to build.
            options: name, credentials, resources, callbacks (``on_log`` gets each log line
                as ``{"level", "message", "timestamp"}``, ``on_progress`` the percentage).
            client: send every request through this :class:`Client` instead of a new one.

        Returns:
            The build's ids and duration; ``create_vm()`` makes a sandbox from it.

        Raises:
            ValueError: the template has no base image or no step besides ENV/WORKDIR/USER.
            TemplateBuildError: the build failed (``logs`` holds its log) or the template did
                not become active in time.
            LocalProtocolError: a ``COPY`` source is outside the context or matches nothing,
                or no event loop adapter is bound and no ``client`` given.
        """
        return await Template._build(template, options, client)

    @classmethod
    async def get_logs(
        cls,
        template_id: str,
        api_key: str,
        offset: int = 0,
        base_url: str | None = None,
        *,
        client: Client | None = None,
    ) -> LogsResponse:
        """One poll of a build's log (``hopx_ai.template.get_logs``).

        Args:
            template_id: the template's id (the service keys build logs by it).
            api_key: the API key.
            offset: where to start; send the returned ``offset`` next time.
            base_url: the control plane (the default when ``None``).
            client: ask through this client instead of a new one.

        Raises:
            NotFoundError: no build of that template.
        """
        args = control_ops.BuildLogsQuery(build_id=template_id, offset=offset)
        if client is not None:
            return _logs_response(await client.call(control_ops.TEMPLATES_BUILD_LOGS, args))
        return await _poll_logs(
            cls._backend(), api_key, base_url or _DEFAULT_BASE_URL, template_id, offset
        )

    @classmethod
    def stream_logs(
        cls,
        template_id: str,
        api_key: str,
        offset: int = 0,
        base_url: str | None = None,
    ) -> EventStream[dict[str, str]]:
        """A build's log as a stream of ``{"level", "message", "timestamp"}`` lines, polled
        until the build ends.

        Args:
            template_id: the template's id.
            api_key: the API key.
            offset: where to start.
            base_url: the control plane (the default when ``None``).

        Returns:
            The lines, read with ``async for``.
        """
        return EventStream(
            _stream(cls._backend(), api_key, base_url or _DEFAULT_BASE_URL, template_id, offset)
        )

    @classmethod
    def _backend(cls) -> Backend:
        if cls._backend_factory is None:
            raise LocalProtocolError(
                "Template needs an event loop adapter: use the Template of hopx_asyncio, "
                "hopx_trio or hopx_sync"
            )
        return cls._backend_factory()


_DEFAULT_BASE_URL = "https://api.hopx.dev"


def template_factory(cls: type[T]) -> Callable[[str | None], T]:
    """``create_template`` for the adapter's :class:`Template` subclass ``cls``."""

    def create_template(from_image: str | None = None) -> T:
        """A new template (``hopx_ai.template.create_template``).

        Args:
            from_image: the base image (``"python:3.11"``, ...).
        """
        return cls(from_image=from_image)

    create_template.__module__ = cls.__module__
    return create_template
