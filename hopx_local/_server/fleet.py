"""The fleet: every sandbox, its registry record, its runtime and its agent listener.

The control plane asks the fleet to create, describe, pause, stop, start and destroy
sandboxes. Each running sandbox has an agent on its own loopback port, so its ``public_host``
is ``http://127.0.0.1:<port>`` (``http://[::1]:<port>`` on the IPv6 loopback). Records live in
the SQLite registry next to the sandbox directories, so a restarted server lists every sandbox
with its files; sandboxes whose processes died with the old server are reported ``stopped``
and can be started again.

A sandbox of a built template (see :mod:`hopx_local._templates`) has the template's layers
below its own, the template's ``ENV`` in its environment, and the template's start command
run at create and at every start until its ready check passes: if it does not, the create
(or start) fails with ``422 template_start_failed`` carrying the command's output, and a
sandbox being created is removed entirely.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import pathlib
import secrets
import shutil
import string
import time
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.abc
import attrs
from anyio.streams.stapled import MultiListener

from hopx_local._jwt import issue_token, new_secret
from hopx_local._runtime.env import check_env
from hopx_local._runtime.isolation import IsolationMode, bwrap_path, isolation_warning
from hopx_local._runtime.kernel import kernel_support
from hopx_local._runtime.languages import available_languages
from hopx_local._runtime.limits import Limits, SandboxResources
from hopx_local._runtime.registry import Registry, SandboxRecord
from hopx_local._runtime.sandbox import SandboxRuntime
from hopx_local._templates.service import TemplateService
from hopx_local._templates.start import StartFailure, run_start, seed_workspace
from hopx_local._templates.store import BuiltTemplate, TemplateStore, layers_of
from hopx_proto.ops import SANDBOXES_LIST, TEMPLATES_LIST

from .checks import seconds
from .connection import ServerLimits, serve_connection
from .envelope import Problem
from .listener import serve_listener
from .preview import preview_origin
from .secrets_file import read_or_create
from .templates import (
    BuiltinTemplate,
    builtin_templates,
    find_template,
    missing_template_message,
)

__all__ = ["Fleet", "FleetConfig", "LiveSandbox", "http_origin"]

log = logging.getLogger("hopx.local")

_ID_ALPHABET = string.ascii_lowercase + string.digits
MAX_PAGE = 100
REAP_INTERVAL = 0.5


@attrs.frozen
class FleetConfig:
    """How the fleet runs sandboxes."""

    state_dir: pathlib.Path
    isolation: IsolationMode
    host: str = "127.0.0.1"
    max_sandboxes: int | None = None
    token_lifetime: int = 24 * 3600
    output_cap: int = 8 * 1024 * 1024
    limits: ServerLimits = attrs.field(factory=ServerLimits)
    process_limits: Limits = attrs.field(factory=Limits)
    #: Python runs in a Jupyter kernel per sandbox when ipykernel is installed.
    python_kernel: bool = True


@attrs.define
class LiveSandbox:
    """A sandbox whose agent is listening.

    ``generation`` is the token generation its agent accepts: tokens signed for an earlier
    one (issued before the sandbox last stopped) are refused.
    """

    id: str
    runtime: SandboxRuntime
    port: int
    scope: anyio.CancelScope
    done: anyio.Event
    started: float
    generation: int = 0
    #: Preview connections open now (see :mod:`.preview`).
    previews: int = 0


def _now() -> float:
    return time.time()


def rfc3339(epoch: float) -> str:
    """An RFC 3339 UTC timestamp with ``Z`` and whole seconds."""
    moment = _dt.datetime.fromtimestamp(int(epoch), _dt.UTC)
    return moment.isoformat().replace("+00:00", "Z")


def rfc3339_precise(epoch: float) -> str:
    """An RFC 3339 UTC timestamp with ``Z`` and microseconds (``...T01:02:03.456789Z``), for
    expiry times: two set within one second are told apart."""
    moment = _dt.datetime.fromtimestamp(float(epoch), _dt.UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _new_sandbox_id() -> str:
    suffix = "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
    return f"{int(_now())}{suffix}"


def http_origin(host: str, port: int) -> str:
    """``http://host:port``, with an IPv6 address in brackets (``http://[::1]:port``)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def load_secret(path: pathlib.Path) -> bytes:
    """The JWT signing secret kept in the state directory (created on first use, whole or
    not at all, so a crash while creating it cannot leave a short one behind)."""
    return read_or_create(path, new_secret, valid=lambda data: len(data) >= 32)


class Fleet:
    """Every sandbox of one server."""

    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.sandboxes_dir = config.state_dir / "sandboxes"
        self.sandboxes_dir.mkdir(exist_ok=True)
        self.secret = load_secret(config.state_dir / "jwt.secret")
        self.registry = Registry(config.state_dir / "registry.sqlite3")
        self.languages = available_languages()
        kernel = config.python_kernel and kernel_support().available
        self.templates: list[BuiltinTemplate] = builtin_templates(self.languages, kernel=kernel)
        self.builds = TemplateService(
            TemplateStore(config.state_dir / "templates"),
            self.secret,
            bwrap_path() if config.isolation is IsolationMode.BWRAP else None,
            self.spawn,
            {t.name for t in self.templates} | {t.id for t in self.templates},
        )
        # The build endpoints' handlers (the control plane finds them on the fleet).
        self.upload_link = self.builds.upload_link
        self.upload = self.builds.upload
        self.build = self.builds.build
        self.build_status = self.builds.build_status
        self.build_logs = self.builds.build_logs
        self._live: dict[str, LiveSandbox] = {}
        self._lock = anyio.Lock()
        self._tg: anyio.abc.TaskGroup | None = None
        # Told once per server: the isolation warning is shown at start-up already.
        self._warned = {note for note in (isolation_warning(config.isolation),) if note}
        self.started = _now()

    # -- lifetime ---------------------------------------------------------------------------

    async def open(self, tg: anyio.abc.TaskGroup) -> None:
        """Adopt the registry (dead sandboxes become ``stopped``) and start the reaper."""
        self._tg = tg
        for record in self._all_records():
            if record.status != "stopped":
                self._mark_stopped(record)
        tg.start_soon(self._reap_forever)

    async def aclose(self) -> None:
        """Kill every process and close every agent listener; records stay, ``stopped``."""
        with anyio.CancelScope(shield=True):
            for sandbox_id in list(self._live):
                await self._halt(sandbox_id)
                record = self.registry.get(sandbox_id)
                if record is not None:
                    self._mark_stopped(record)

    def close(self) -> None:
        """Release the registry (after :meth:`aclose` and once no task uses the fleet)."""
        self.registry.close()

    def spawn(self, func: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Run a background task for as long as the server runs."""
        self._task_group().start_soon(func, *args)

    def _mark_stopped(self, record: SandboxRecord) -> SandboxRecord:
        """Record a sandbox as stopped; the tokens issued for it so far stop opening it."""
        return self.registry.update(
            record.id, status="stopped", token_generation=record.token_generation + 1
        )

    def live_count(self) -> int:
        return len(self._live)

    def live(self, sandbox_id: str) -> LiveSandbox | None:
        return self._live.get(sandbox_id)

    def _all_records(self) -> list[SandboxRecord]:
        found: list[SandboxRecord] = []
        cursor: str | None = None
        while True:
            page, cursor = self.registry.list(limit=MAX_PAGE, cursor=cursor)
            found.extend(page)
            if cursor is None:
                return found

    def _task_group(self) -> anyio.abc.TaskGroup:
        if self._tg is None:
            raise RuntimeError("the fleet is not open")
        return self._tg

    # -- agents -----------------------------------------------------------------------------

    def sandbox_root(self, sandbox_id: str) -> pathlib.Path:
        return self.sandboxes_dir / sandbox_id

    def _find(self, key: str) -> BuiltinTemplate | BuiltTemplate | None:
        """A built-in or built template by name or id."""
        return find_template(self.templates, key) or self.builds.store.find(key)

    def _layers(self, template: BuiltinTemplate | BuiltTemplate | None) -> list[pathlib.Path]:
        if not isinstance(template, BuiltTemplate):
            return []
        if self.config.isolation is not IsolationMode.BWRAP:
            raise Problem(
                422,
                f"Template {template.name!r} is built: its sandboxes need bubblewrap, which "
                "this server does not use (isolation is off)",
                code="template_unavailable",
                details={"template": template.name, "template_id": template.id},
            )
        layers = layers_of(self.builds.store, template)
        missing = [str(layer) for layer in layers if not layer.is_dir()]
        if missing:
            raise Problem(
                422,
                f"Template {template.name!r} is missing its layer on this server's disk",
                code="template_unavailable",
                details={"template": template.name, "template_id": template.id},
            )
        return layers

    async def _launch(self, record: SandboxRecord) -> LiveSandbox:
        from .agent import AgentPlane

        template = self._find(str(record.template))
        layers = self._layers(template)
        runtime = SandboxRuntime(
            record.id,
            self.sandbox_root(record.id),
            isolation=self.config.isolation,
            internet_access=bool(record.internet_access),
            limits=self.config.process_limits,
            output_cap=self.config.output_cap,
            kernel=self.config.python_kernel,
            layers=layers,
            spawn_task=self.spawn,
            resources=SandboxResources(
                vcpu=template.vcpu if template else 2,
                memory_mb=template.memory_mb if template else 2048,
                disk_mb=(template.disk_gb if template else 10) * 1024,
            ),
        )
        try:
            await runtime.start()
            if layers and not runtime.writable_system:
                assert template is not None
                raise Problem(
                    422,
                    f"Template {template.name!r} is built, but this host cannot stack its "
                    "layers under a sandbox's own: "
                    + ("; ".join(runtime.warnings) or "its system stays read-only"),
                    code="template_unavailable",
                    details={"template": template.name, "template_id": template.id},
                )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await runtime.shutdown()
            raise
        for note in runtime.warnings:
            if note not in self._warned:
                self._warned.add(note)
                log.warning("sandbox %s: %s", record.id, note)
        listener = await self._agent_listener(record.agent_port)
        port = int(listener.listeners[0].extra(anyio.abc.SocketAttribute.local_port))
        live = LiveSandbox(
            record.id,
            runtime,
            port,
            anyio.CancelScope(),
            anyio.Event(),
            _now(),
            generation=record.token_generation,
        )
        agent = AgentPlane(self, live)
        plane = f"agent:{record.id}"
        handler = functools.partial(
            serve_connection, app=agent, limits=self.config.limits, plane=plane
        )

        async def serve() -> None:
            try:
                with live.scope:
                    await serve_listener(listener, handler, plane=plane)
            finally:
                with anyio.CancelScope(shield=True):
                    await listener.aclose()
                live.done.set()

        self._task_group().start_soon(serve)
        self._live[record.id] = live
        return live

    async def _agent_listener(self, port: int | None) -> MultiListener[anyio.abc.SocketStream]:
        """A listener for an agent: on ``port`` (where the sandbox's agent was before, so its
        ``public_host`` stays the same across a stop or a restart) when it is free, else on
        any free port."""
        if port:
            try:
                return await anyio.create_tcp_listener(local_host=self.config.host, local_port=port)
            except OSError:
                pass
        return await anyio.create_tcp_listener(local_host=self.config.host, local_port=0)

    async def _halt(self, sandbox_id: str) -> None:
        live = self._live.pop(sandbox_id, None)
        if live is None:
            return
        live.scope.cancel()
        with anyio.CancelScope(shield=True):
            await live.done.wait()
            await live.runtime.shutdown()

    # -- descriptions -----------------------------------------------------------------------

    def public_host(self, record: SandboxRecord) -> str:
        live = self._live.get(record.id)
        port = live.port if live is not None else record.agent_port
        return http_origin(self.config.host, port) if port else ""

    def describe(self, record: SandboxRecord) -> dict[str, Any]:
        """A sandbox as the control plane shows it."""
        template = self._find(str(record.template))
        created = record.created_at
        expires = record.expires_at
        host = self.public_host(record)
        live = self._live.get(record.id)
        port = live.port if live is not None else record.agent_port
        doc: dict[str, Any] = {
            "object": "sandbox",
            "id": record.id,
            "status": record.status,
            "public_host": host,
            "direct_url": host,
            "preview_url": preview_origin(record.id, port) if port else None,
            "template_id": template.id if template else str(record.template),
            "template_name": template.name if template else str(record.template),
            "organization_id": 1,
            "node_id": "local",
            "region": record.region or "local",
            "resources": {
                "vcpu": template.vcpu if template else 2,
                "memory_mb": template.memory_mb if template else 2048,
                "disk_mb": (template.disk_gb if template else 10) * 1024,
            },
            "internet_access": bool(record.internet_access),
            "live_mode": False,
            "timeout_seconds": record.timeout_seconds,
            "expires_at": rfc3339_precise(expires) if expires is not None else None,
            "created_at": rfc3339(created) if created is not None else None,
        }
        return doc

    def _token(self, record: SandboxRecord) -> dict[str, Any]:
        token, exp = issue_token(
            self.secret,
            record.id,
            now=_now(),
            lifetime=self.config.token_lifetime,
            generation=record.token_generation,
        )
        return {"auth_token": token, "token_expires_at": rfc3339_precise(exp)}

    def _record(self, sandbox_id: str) -> SandboxRecord:
        record = self.registry.get(sandbox_id)
        if record is None:
            raise Problem(
                404,
                f"Sandbox {sandbox_id} not found",
                code="sandbox_not_found",
                details={"sandbox_id": sandbox_id},
            )
        return record

    # -- control-plane operations -----------------------------------------------------------

    async def list_sandboxes(self, args: Any) -> dict[str, Any]:
        limit = min(args.limit or MAX_PAGE, MAX_PAGE)
        try:
            records, next_cursor = self.registry.list(
                status=args.status, limit=limit, cursor=args.cursor
            )
        except ValueError as exc:
            raise Problem(400, f"Invalid cursor: {exc}", code="invalid_cursor") from None
        if args.region is not None:
            records = [r for r in records if (r.region or "local") == args.region]
        return {
            "object": "list",
            "data": [self.describe(r) for r in records],
            "has_more": next_cursor is not None,
            "next_cursor": next_cursor,
            "url": SANDBOXES_LIST.path,
        }

    def _template_for(self, args: Any) -> BuiltinTemplate | BuiltTemplate:
        key = args.template_id if args.template_id is not None else args.template_name
        template = self._find(str(key))
        if template is None:
            names = [t.name for t in self.templates] + [t.name for t in self.builds.listed()]
            raise Problem(
                404,
                missing_template_message(self.templates, str(key)),
                code="template_not_found",
                details={"template": key, "available_templates": names},
            )
        self._layers(template)  # a built template this server cannot run is refused here
        return template

    async def _seed_workspace(self, live: LiveSandbox, template: BuiltTemplate) -> None:
        """A new sandbox's ``/workspace`` starts with what the template's build left there."""
        runtime = live.runtime
        try:
            await anyio.to_thread.run_sync(
                seed_workspace,
                layers_of(self.builds.store, template),
                runtime.layout.workspace,
                runtime.owner,
            )
        except OSError as exc:
            raise Problem(
                422,
                f"Template {template.name!r}: its /workspace could not be copied into the "
                f"sandbox's: {exc.strerror or exc}",
                code="template_workspace_failed",
                details={"template": template.name, "template_id": template.id},
            ) from None

    async def _template_start(self, live: LiveSandbox, template: BuiltTemplate) -> None:
        """Run ``template``'s start command in ``live`` until it is ready; a typed 422 (the
        command's output in its details) if it exits or is not ready in time."""
        try:
            await run_start(live.runtime, template)
        except StartFailure as exc:
            raise Problem(
                422,
                f"Template {template.name!r}: {exc.message}",
                code="template_start_failed",
                details={
                    "sandbox_id": live.id,
                    "template": template.name,
                    "template_id": template.id,
                    "start_cmd": template.start_cmd,
                    **exc.details(),
                },
            ) from None

    async def create(self, args: Any) -> dict[str, Any]:
        template = self._template_for(args)
        built = template if isinstance(template, BuiltTemplate) else None
        env_vars = check_env(dict(args.env_vars or {}))
        timeout = args.timeout_seconds
        if timeout is not None:
            seconds(timeout, "timeout_seconds", code="validation_error")
        async with self._lock:
            if built is not None:  # it may have been deleted or rebuilt meanwhile
                current = self.builds.store.find(built.id)
                if current is None:
                    raise Problem(
                        404,
                        f"Template {built.name!r} was deleted",
                        code="template_not_found",
                        details={"template": built.name, "template_id": built.id},
                    )
                built = current
            limit = self.config.max_sandboxes
            if limit is not None and len(self._live) >= limit:
                raise Problem(
                    403,
                    "Sandbox limit reached",
                    code="resource_limit_exceeded",
                    details={"limit": limit, "current": len(self._live), "available": 0},
                )
            sandbox_id = _new_sandbox_id()
            now = _now()
            record = SandboxRecord(
                id=sandbox_id,
                template=template.name,
                status="running",
                created_at=now,
                expires_at=now + timeout if timeout else None,
                timeout_seconds=timeout,
                internet_access=True if args.internet_access is None else args.internet_access,
                env_vars=env_vars,
                agent_port=None,
                region=args.region or "local",
            )
            self.registry.create(record)
            try:
                live = await self._launch(record)
                if built is not None:
                    await self._seed_workspace(live, built)
                if built is not None and built.env:
                    live.runtime.env_update(built.env)  # what the API sets goes over it
                if env_vars:
                    live.runtime.env_update(env_vars)
                self.registry.update(sandbox_id, agent_port=live.port)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self._destroy(sandbox_id)
                raise
        if built is not None and built.start_cmd:
            # Outside the fleet's lock: a start command may take its whole ready timeout.
            try:
                await self._template_start(live, built)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    async with self._lock:
                        await self._destroy(sandbox_id)
                raise
        created = self._record(sandbox_id)
        doc = self.describe(created)
        doc.update(self._token(created))
        return doc

    async def get(self, args: Any) -> dict[str, Any]:
        return self.describe(self._record(args.id))

    async def _destroy(self, sandbox_id: str) -> None:
        await self._halt(sandbox_id)
        root = self.sandbox_root(sandbox_id)
        await anyio.to_thread.run_sync(functools.partial(shutil.rmtree, root, ignore_errors=True))
        self.registry.delete(sandbox_id)

    async def delete(self, args: Any) -> dict[str, Any]:
        self._record(args.id)
        async with self._lock:
            await self._destroy(args.id)
        return {"id": args.id, "object": "sandbox", "deleted": True, "status": "deleted"}

    def _running(self, sandbox_id: str, action: str) -> tuple[SandboxRecord, LiveSandbox]:
        record = self._record(sandbox_id)
        live = self._live.get(sandbox_id)
        if live is None:
            raise Problem(
                409,
                f"Cannot {action} sandbox {sandbox_id}: it is {record.status}",
                code="invalid_state",
                details={"status": record.status},
            )
        return record, live

    async def pause(self, args: Any) -> dict[str, Any]:
        record, live = self._running(args.id, "pause")
        if record.status != "paused":
            live.runtime.pause()
            self.registry.update(args.id, status="paused")
        return self.describe(self._record(args.id))

    async def resume(self, args: Any) -> dict[str, Any]:
        record, live = self._running(args.id, "resume")
        if record.status == "paused":
            live.runtime.resume()
            self.registry.update(args.id, status="running")
        return self.describe(self._record(args.id))

    async def stop(self, args: Any) -> dict[str, Any]:
        self._record(args.id)
        async with self._lock:
            await self._halt(args.id)
            self._mark_stopped(self._record(args.id))
        return self.describe(self._record(args.id))

    async def start(self, args: Any) -> dict[str, Any]:
        record = self._record(args.id)
        launched: LiveSandbox | None = None
        async with self._lock:
            if args.id not in self._live:
                limit = self.config.max_sandboxes
                if limit is not None and len(self._live) >= limit:
                    raise Problem(
                        403,
                        "Sandbox limit reached",
                        code="resource_limit_exceeded",
                        details={"limit": limit, "current": len(self._live), "available": 0},
                    )
                launched = await self._launch(record)
                self.registry.update(args.id, status="running", agent_port=launched.port)
        built = self.builds.store.find(str(record.template))
        if launched is not None and built is not None and built.start_cmd:
            try:
                await self._template_start(launched, built)
            except BaseException:
                # The sandbox keeps its files: it is stopped again, to be started once more.
                with anyio.CancelScope(shield=True):
                    async with self._lock:
                        if self._live.get(args.id) is launched:
                            await self._halt(args.id)
                            current = self.registry.get(args.id)
                            if current is not None:
                                self._mark_stopped(current)
                raise
        return self.describe(self._record(args.id))

    async def set_timeout(self, args: Any) -> dict[str, Any]:
        self._record(args.id)
        seconds(args.timeout_seconds, "timeout_seconds", code="validation_error")
        expires = _now() + args.timeout_seconds
        self.registry.update(args.id, timeout_seconds=args.timeout_seconds, expires_at=expires)
        return self.describe(self._record(args.id))

    async def refresh_token(self, args: Any) -> dict[str, Any]:
        return self._token(self._record(args.id))

    async def list_templates(self, args: Any) -> dict[str, Any]:
        chosen = [
            t
            for t in self.templates
            if (args.category is None or t.category == args.category)
            and (args.language is None or args.language in t.languages)
        ]
        built = [
            t.to_wire()
            for t in self.builds.listed()
            if (args.category is None or args.category == "custom")
            and (args.language is None or args.language == "python")
        ]
        return {
            "object": "list",
            "data": [t.to_wire() for t in chosen] + built,
            "has_more": False,
            "url": TEMPLATES_LIST.path,
        }

    async def get_template(self, args: Any) -> dict[str, Any]:
        template = find_template(self.templates, args.name)
        if template is None:
            built = self.builds.describe(args.name)
            if built is not None:
                return built
            raise Problem(
                404,
                missing_template_message(self.templates, str(args.name)),
                code="template_not_found",
                details={"available_templates": [t.name for t in self.templates]},
            )
        return template.to_wire()

    def _check_unused(self, key: str) -> None:
        """409 ``template_in_use`` if a sandbox (running, paused or stopped: it would need
        the template's layers to start again) was made from the built template ``key``."""
        built = self.builds.store.find(key)
        if built is None:
            return
        users = [r.id for r in self._all_records() if str(r.template) in (built.name, built.id)]
        if users:
            shown = ", ".join(users[:10]) + (" ..." if len(users) > 10 else "")
            raise Problem(
                409,
                f"Template {built.name!r} is used by {len(users)} sandbox(es) ({shown}), "
                "running or stopped; delete them first",
                code="template_in_use",
                details={"template_id": built.id, "sandboxes": users},
            )

    async def delete_template(self, args: Any) -> dict[str, Any]:
        template = find_template(self.templates, args.template_id)
        if template is None:
            async with self._lock:  # no sandbox of it is created meanwhile
                self._check_unused(args.template_id)
                deleted = await self.builds.delete(args.template_id)
            if deleted is not None:
                return deleted
            raise Problem(
                404, f"Template {args.template_id!r} not found", code="template_not_found"
            )
        raise Problem(
            403, f"Template {template.name!r} is built in and cannot be deleted", code="forbidden"
        )

    # -- expiry -----------------------------------------------------------------------------

    async def _reap_forever(self) -> None:
        while True:
            await anyio.sleep(REAP_INTERVAL)
            await self.reap_expired()

    async def reap_expired(self) -> list[str]:
        """Destroy every sandbox whose ``expires_at`` has passed; their ids."""
        now = _now()
        gone: list[str] = []
        for record in self._all_records():
            expires = record.expires_at
            if expires is not None and expires <= now:
                async with self._lock:
                    await self._destroy(record.id)
                log.info("sandbox %s expired and was removed", record.id)
                gone.append(record.id)
        return gone
