"""Build contexts, layers and built templates, under ``<state>/templates``.

``blobs/<files_hash>.tar.gz``
    uploaded contexts, by the hash the client gave them;
``layers/<key>/tree``
    the template's whole tree after a step (``/app``, ``/home``, ``/usr/local``, ...), keyed
    by the hash of the base image and every step up to it: a step whose key exists is not
    run again unless its ``skipCache`` (or the build's) says so. A layer is complete or
    absent: it is made under a temporary name and renamed into place;
``templates.json``
    the built templates: name, id, final layer, environment, working directory, user,
    start command and ready check;
``builds/<build_id>.json``
    each build's status and log, so that a restarted server still answers for it (a build
    that was running when the server stopped is then ``failed``). Like ``templates.json``,
    each is written whole (a temporary file, flushed to disk, renamed into place).

:func:`layers_of` is how a sandbox runtime takes a built template's files: the directories to
stack read-only under the sandbox's own writable layer, lowest first.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import tempfile
from typing import Any

import attrs

__all__ = ["MAX_BUILD_RECORDS", "BuiltTemplate", "TemplateStore", "layers_of"]

#: Build records kept on disk (the oldest go first).
MAX_BUILD_RECORDS = 500
_BUILD_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _write_whole(path: pathlib.Path, doc: Any) -> None:
    """Write ``doc`` as JSON to ``path`` whole or not at all: to a temporary file in the same
    directory, flushed to disk, renamed over ``path``, the directory flushed too."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".write-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(doc, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        pathlib.Path(temp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@attrs.define
class BuiltTemplate:
    """A template this server built."""

    id: str
    name: str
    layer: str
    from_image: str
    build_id: str
    created_at: str
    updated_at: str
    env: dict[str, str] = attrs.field(factory=dict)
    workdir: str = "/home/user"
    user: str = "user"
    start_cmd: str | None = None
    ready_cmd: dict[str, Any] | None = None
    cpu: int = 2
    memory_mb: int = 2048
    disk_gb: int = 10

    @property
    def vcpu(self) -> int:
        """The vCPUs of its sandboxes (as a built-in template names them)."""
        return self.cpu

    def to_wire(self) -> dict[str, Any]:
        """The template as ``GET /v1/templates/{name}`` returns it."""
        resources = {"vcpu": self.cpu, "memory_mb": self.memory_mb, "disk_gb": self.disk_gb}
        return {
            "object": "template",
            "id": self.id,
            "name": self.name,
            "display_name": self.name,
            "description": f"Built from {self.from_image} by this server",
            "category": "custom",
            "language": "python",
            "default_resources": resources,
            "min_resources": {"vcpu": 1, "memory_mb": 512, "disk_gb": 1},
            "max_resources": resources,
            "features": ["code_execution", "file_operations", "terminal_access"],
            "tags": ["local", "custom"],
            "popularity_score": 0,
            "is_active": True,
            "is_public": False,
            "status": "active",
            "build_id": self.build_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class TemplateStore:
    """The on-disk store of one server."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.layers = root / "layers"
        self.scratch = root / "scratch"
        for path in (self.blobs, self.layers, self.scratch):
            path.mkdir(parents=True, exist_ok=True)
        # What a former server's builds left half made (it stopped during them).
        for leftover in self.scratch.iterdir():
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        self.builds = root / "builds"
        self.builds.mkdir(exist_ok=True)
        self._index = root / "templates.json"
        self.templates: dict[str, BuiltTemplate] = self._load()

    # -- blobs --------------------------------------------------------------------------------

    def blob_path(self, files_hash: str) -> pathlib.Path:
        return self.blobs / f"{files_hash}.tar.gz"

    def has_blob(self, files_hash: str) -> bool:
        return self.blob_path(files_hash).is_file()

    def put_blob(self, files_hash: str, data: bytes) -> None:
        """Store a context whole or not at all."""
        fd, temp = tempfile.mkstemp(dir=self.blobs, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(temp, self.blob_path(files_hash))
        except BaseException:
            pathlib.Path(temp).unlink(missing_ok=True)
            raise

    # -- layers -------------------------------------------------------------------------------

    def layer_tree(self, key: str) -> pathlib.Path:
        return self.layers / key / "tree"

    def has_layer(self, key: str) -> bool:
        return self.layer_tree(key).is_dir()

    def new_scratch(self, prefix: str) -> pathlib.Path:
        return pathlib.Path(tempfile.mkdtemp(dir=self.scratch, prefix=prefix))

    def commit_layer(self, key: str, tree: pathlib.Path) -> None:
        """Make ``tree`` (a scratch directory) the layer ``key``."""
        holder = self.new_scratch(".layer-")
        tree.rename(holder / "tree")
        final = self.layers / key
        if final.exists():
            shutil.rmtree(final)
        holder.rename(final)

    # -- templates ----------------------------------------------------------------------------

    def _load(self) -> dict[str, BuiltTemplate]:
        try:
            raw = json.loads(self._index.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        out: dict[str, BuiltTemplate] = {}
        for item in raw if isinstance(raw, list) else []:
            try:
                built = BuiltTemplate(**item)
            except TypeError:
                continue
            out[built.id] = built
        return out

    def _save(self) -> None:
        _write_whole(self._index, [attrs.asdict(t) for t in self.templates.values()])

    def find(self, key: str) -> BuiltTemplate | None:
        """A built template by id or name."""
        for built in self.templates.values():
            if key in (built.id, built.name):
                return built
        return None

    def put(self, built: BuiltTemplate) -> None:
        self.templates[built.id] = built
        self._save()

    def remove(self, template_id: str) -> None:
        self.templates.pop(template_id, None)
        self._save()

    # -- build records ------------------------------------------------------------------------

    def _build_path(self, build_id: str) -> pathlib.Path:
        if not _BUILD_ID.fullmatch(build_id):
            raise ValueError(f"not a build id: {build_id!r}")
        return self.builds / f"{build_id}.json"

    def save_build(self, record: dict[str, Any]) -> None:
        """Keep one build's record (whole or not at all). Blocking."""
        _write_whole(self._build_path(str(record["build_id"])), record)

    def load_builds(self, keep: int = MAX_BUILD_RECORDS) -> list[dict[str, Any]]:
        """The build records kept, oldest first; past ``keep``, the oldest are removed."""
        found: list[tuple[float, pathlib.Path, Any]] = []
        for path in self.builds.glob("*.json"):
            try:
                with path.open(encoding="utf-8") as handle:
                    doc = json.load(handle)
                found.append((path.stat().st_mtime, path, doc))
            except (OSError, ValueError):
                continue
        found.sort(key=lambda item: item[0])
        for _mtime, path, _doc in found[: max(0, len(found) - keep)]:
            path.unlink(missing_ok=True)
        return [doc for _mtime, _path, doc in found[-keep:] if isinstance(doc, dict)]


def layers_of(store: TemplateStore, template: BuiltTemplate) -> list[pathlib.Path]:
    """The directories holding ``template``'s files, lowest first, to mount read-only above
    the host's system and below a sandbox's own writable layer. Each is a whole tree rooted
    at ``/`` (``tree/app`` is ``/app``)."""
    return [store.layer_tree(template.layer)]
