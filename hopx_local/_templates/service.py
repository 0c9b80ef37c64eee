"""The control-plane side of template builds: upload links, uploads, builds, status, logs.

An upload link points back at this server (``PUT /v1/templates/files/upload/{hash}``), signed
with the server's secret so that, like a presigned storage URL, it needs no API key and
serves that one hash. Builds run as background tasks of the server; their status and log are
kept in the state directory as they go (at most every :data:`SAVE_INTERVAL` seconds, and when
the build ends), like the built templates themselves, so a restarted server still answers for
every build: one that was running when the server stopped is ``failed``, saying why.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.to_thread

from hopx_proto.ops import (
    TEMPLATES_BUILD_LOGS,
    TEMPLATES_UPLOAD,
)
from hopx_proto.streams import encode_sse_comment, encode_sse_event

from .._server.envelope import Problem
from .builder import Build, run_build
from .store import BuiltTemplate, TemplateStore

__all__ = ["MAX_UPLOAD", "TemplateService"]

#: The largest context upload (the control plane's body limit bounds it too).
MAX_UPLOAD = 64 * 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_HASH = re.compile(r"[A-Za-z0-9_-]{1,128}")
#: Seconds an upload link is valid.
LINK_LIFETIME = 3600
#: Builds that run at once (more wait their turn).
CONCURRENT_BUILDS = 2
#: Seconds between keep-alive comments of a quiet log stream.
KEEPALIVE = 15.0
#: Template ids of built templates start here (the built-in ones are small numbers).
FIRST_ID = 1001
#: Seconds between two saves of a running build's record.
SAVE_INTERVAL = 1.0


class TemplateService:
    """Template builds of one server.

    Args:
        store: the on-disk store.
        secret: signs upload links.
        bwrap: the bubblewrap executable (``None``: RUN steps are refused).
        spawn: runs a background task for as long as the server runs.
        builtin_names: names of the built-in templates (a build cannot take them).
    """

    def __init__(
        self,
        store: TemplateStore,
        secret: bytes,
        bwrap: str | None,
        spawn: Callable[..., Any],
        builtin_names: set[str],
    ) -> None:
        self.store = store
        self._secret = secret
        self.bwrap = bwrap
        self._spawn = spawn
        self._builtin = builtin_names
        #: The control plane's origin (``http://127.0.0.1:port``), set once it listens.
        self.origin = ""
        self.builds: dict[str, Build] = {}
        self._limiter = anyio.CapacityLimiter(CONCURRENT_BUILDS)
        self._load_builds()

    def _load_builds(self) -> None:
        """The builds of former servers (blocking: at start-up)."""
        for doc in self.store.load_builds():
            build = Build.from_record(doc)
            if build is None:
                continue
            if not build.done:  # the server stopped during it
                built = self.store.find(build.template_id)
                if built is not None and built.build_id == build.build_id:
                    # ... after keeping the template, before the record said so.
                    build.log(f"✅ Template {build.name} built (id {build.template_id})")
                    build.finish("active")
                    build.duration_ms = None  # not known
                else:
                    build.interrupted()
                self.store.save_build(build.to_record())
            self.builds[build.build_id] = build

    async def _save(self, build: Build) -> None:
        try:
            await anyio.to_thread.run_sync(self.store.save_build, build.to_record())
        except OSError as exc:  # the build goes on; only its record is not updated
            build.log(f"  ⚠ WARN: the build's record could not be saved: {exc}")

    async def _keep_saved(self, build: Build) -> None:
        """Save ``build``'s record whenever it changes (at most every SAVE_INTERVAL)."""
        while not build.done:
            changed = build.changed  # set by any change from here on
            await self._save(build)
            await anyio.sleep(SAVE_INTERVAL)
            await changed.wait()

    # -- ids ------------------------------------------------------------------------------

    def _next_id(self) -> str:
        taken = [int(t) for t in self.store.templates if t.isdigit()]
        taken += [int(b.template_id) for b in self.builds.values() if b.template_id.isdigit()]
        return str(max([FIRST_ID - 1, *taken]) + 1)

    def _sign(self, files_hash: str) -> str:
        return hmac.new(self._secret, b"upload:" + files_hash.encode(), hashlib.sha256).hexdigest()

    # -- handlers -------------------------------------------------------------------------

    async def upload_link(self, args: Any) -> dict[str, Any]:
        files_hash = args.files_hash
        if not _HASH.fullmatch(files_hash):
            raise Problem(
                400, "files_hash must be 1-128 letters, digits, - or _", code="validation_error"
            )
        if args.content_length > MAX_UPLOAD:
            raise Problem(
                413,
                f"A build context may be at most {MAX_UPLOAD} bytes here, "
                f"not {args.content_length}",
                code="payload_too_large",
            )
        if self.store.has_blob(files_hash):
            return {"present": True, "files_hash": files_hash}
        path = TEMPLATES_UPLOAD.path.replace("{files_hash}", files_hash)
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + LINK_LIFETIME))
        return {
            "present": False,
            "upload_url": f"{self.origin}{path}?signature={self._sign(files_hash)}",
            "expires_at": expires,
            "files_hash": files_hash,
        }

    async def upload(self, args: Any) -> dict[str, Any]:
        files_hash = args.files_hash
        given = (args.signature or "").encode("utf-8", "replace")  # any text, compared as bytes
        if not _HASH.fullmatch(files_hash) or not hmac.compare_digest(
            given, self._sign(files_hash).encode()
        ):
            raise Problem(403, "This upload URL is not valid for that hash", code="forbidden")
        if len(args.data) > MAX_UPLOAD:
            raise Problem(
                413, f"A build context may be at most {MAX_UPLOAD} bytes", code="payload_too_large"
            )
        if not args.data.startswith(b"\x1f\x8b"):
            raise Problem(400, "A build context must be a gzip tarball", code="validation_error")
        await anyio.to_thread.run_sync(self.store.put_blob, files_hash, args.data)
        return {}

    def _running(self, name: str) -> Build | None:
        for build in self.builds.values():
            if build.name == name and not build.done:
                return build
        return None

    async def build(self, args: Any) -> dict[str, Any]:
        name = args.name
        if not _NAME.fullmatch(name):
            raise Problem(
                400,
                "A template name is 1-63 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit",
                code="validation_error",
            )
        if name in self._builtin:
            raise Problem(409, f"Template {name!r} is built in", code="template_exists")
        if self._running(name) is not None:
            raise Problem(
                409, f"Template {name!r} is being built already", code="build_in_progress"
            )
        existing = self.store.find(name)
        if existing is not None and not args.update:
            raise Problem(
                409,
                f"Template {name!r} exists; build with update=True to replace it",
                code="template_exists",
            )
        template_id = existing.id if existing is not None else self._next_id()
        build = Build(build_id=f"b{secrets.token_hex(6)}", template_id=template_id, name=name)
        self.builds[build.build_id] = build
        self._start(build, args)
        return {
            "build_id": build.build_id,
            "template_id": template_id,
            "status": build.status,
            "logs_url": self.origin + TEMPLATES_BUILD_LOGS.path.replace("{build_id}", template_id),
        }

    def _start(self, build: Build, args: Any) -> None:
        async def task() -> None:
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._keep_saved, build)
                    async with self._limiter:  # queued builds stay "building" at progress 0
                        await run_build(
                            build, args, self.store, bwrap=self.bwrap, on_success=self.store.put
                        )
                    tg.cancel_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True):
                    if not build.done:  # the server is stopping
                        build.interrupted()
                    await self._save(build)

        self._spawn(task)

    def find_build(self, key: str) -> Build:
        """A build by build id, or the latest build of a template id or name."""
        found = self.builds.get(key)
        if found is None:
            for build in self.builds.values():
                if key in (build.template_id, build.name):
                    found = build
        if found is None:
            raise Problem(404, f"No build {key!r}", code="not_found")
        return found

    async def build_status(self, args: Any) -> dict[str, Any]:
        return self.find_build(args.build_id).status_doc()

    async def build_logs(self, args: Any) -> dict[str, Any]:
        build = self.find_build(args.build_id)
        text = build.text
        start = min(args.offset, len(text))
        return {
            "logs": text[start:],
            "offset": len(text),
            "status": build.status,
            "complete": build.done,
        }

    async def log_events(self, args: Any) -> AsyncIterator[bytes]:
        """The build log from ``offset`` on as Server-Sent Events, until the build ends: one
        ``log`` event per line (its ``id`` is the offset after it, for ``Last-Event-ID``),
        then one ``status`` event with ``{"status", "complete"}``; a comment every
        :data:`KEEPALIVE` seconds keeps a quiet stream open."""
        build = self.find_build(args.build_id)
        offset = min(args.offset, len(build.text))
        yield encode_sse_comment(f"log of build {build.build_id}")
        while True:
            text = build.text
            if len(text) > offset:
                chunk, offset = text[offset:], len(text)
                end = offset - len(chunk)
                out = []
                for line in chunk.splitlines(keepends=True):
                    end += len(line)
                    out.append(encode_sse_event(line.rstrip("\n"), event="log", id=str(end)))
                yield b"".join(out)
                continue
            if build.done:
                doc = {"status": build.status, "complete": True, "offset": offset}
                yield encode_sse_event(json.dumps(doc), event="status")
                return
            changed = build.changed
            with anyio.move_on_after(KEEPALIVE) as scope:
                await changed.wait()
            if scope.cancelled_caught:
                yield encode_sse_comment("keep-alive")

    # -- templates ------------------------------------------------------------------------

    def describe(self, key: str) -> dict[str, Any] | None:
        """``GET /v1/templates/{key}`` of a built template, or of one being built."""
        built = self.store.find(key)
        if built is not None:
            return built.to_wire()
        for build in self.builds.values():
            if key in (build.template_id, build.name) and not build.done:
                return {
                    "object": "template",
                    "id": build.template_id,
                    "name": build.name,
                    "display_name": build.name,
                    "is_active": False,
                    "status": "building",
                    "build_id": build.build_id,
                }
        return None

    def listed(self) -> list[BuiltTemplate]:
        return list(self.store.templates.values())

    async def delete(self, key: str) -> dict[str, Any] | None:
        built = self.store.find(key)
        if built is None:
            return None
        if self._running(built.name) is not None:
            raise Problem(
                409, f"Template {built.name!r} is being rebuilt", code="build_in_progress"
            )
        await anyio.to_thread.run_sync(self.store.remove, built.id)
        return {"id": built.id, "object": "template", "deleted": True}
