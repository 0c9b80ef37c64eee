"""A Jupyter kernel per sandbox: ipykernel inside the sandbox, driven from the server.

The kernel is started by the sandbox's init like every other process of the sandbox (same
namespaces, cgroup, seccomp filter, user and per-process limits, except the CPU-time limit,
which a long-lived kernel would reach by the sum of many short cells; the cell timeout and the
cgroup bound it instead). It talks over Jupyter's ``ipc`` transport: Unix sockets in a directory
of its own below the per-execution mount, which the server reaches by their host path whatever
network namespace the sandbox has.

The server side is plain pyzmq sockets waited on with :func:`anyio.wait_readable`, so it works
on every anyio backend and never blocks the event loop; messages are signed and checked with
``jupyter_client``'s :class:`~jupyter_client.session.Session`. Whatever the kernel sends is
input to check: a message that does not parse, is not signed, belongs to another request or is
larger than :data:`MAX_MESSAGE` is dropped (an oversized display becomes a note on stderr).

Both packages are optional (the ``kernel`` extra): without them every Python execution runs
in a fresh interpreter, as :func:`kernel_support` reports.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import hashlib
import importlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import attrs

from .errors import fault
from .mounts import KERNEL_SITE_MOUNT
from .process import OutputCapture, SandboxProcess, terminate

__all__ = [
    "KERNEL_SITE_MOUNT",
    "MAX_MESSAGE",
    "KernelSupport",
    "SandboxKernel",
    "bundle_outputs",
    "checked_outputs",
    "kernel_site",
    "kernel_support",
    "sandbox_packages",
]

#: The largest kernel message read (a bigger display bundle is dropped with a note).
MAX_MESSAGE = 32 << 20
#: A connected socket refuses (and disconnects) messages beyond this, bounding memory.
_HARD_MESSAGE = 256 << 20
_START_TIMEOUT = 60.0
#: After SIGINT, how long a cell has to stop before the kernel is restarted. A stopped cell
#: formats its traceback first (IPython's first one imports a good deal), which takes seconds
#: on a busy machine: this is well beyond that.
_INTERRUPT_GRACE = 10.0
#: While a stopped cell has not answered, SIGINT goes again after this long, then after
#: twice as long each time: a kernel ignores SIGINT between two requests, yet one that
#: comes while it formats the interrupted cell's traceback would start that work over.
_INTERRUPT_AGAIN = 0.5
#: After the kernel says it is idle, how long its execute reply may take.
_REPLY_GRACE = 5.0
_POLL = 0.25
#: After a cell's execute reply, how long its output may pause before the output channel is
#: taken for closed.
_OUTPUT_GRACE = 10.0
#: While a cell runs and the kernel is silent, a heartbeat goes out this often (seconds)...
_HEARTBEAT_EVERY = 1.0
#: ... and a kernel that answered none for this long is taken for hung and restarted.
_HEARTBEAT_TIMEOUT = 15.0
#: How long the start of a line waits for its end before it is sent as it is: longer than
#: the kernel's own flush interval (0.2 s), which may cut a print between its text and its
#: newline and send the rest with the next flush.
_LINE_WAIT = 0.5
#: The most text one stream frame carries (characters): the kernel hands over what a cell
#: wrote between two of its flushes, megabytes for a fast writer, and a client takes frames
#: of up to 1 MiB. 64 Ki characters stay under that in any UTF-8.
FRAME_TEXT = 64 * 1024


def frame_pieces(text: str, limit: int = FRAME_TEXT) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, each cut after its last newline
    where it has one, so that whole lines stay whole whenever they fit."""
    pieces = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit) + 1 or limit
        pieces.append(text[:cut])
        text = text[cut:]
    if text:
        pieces.append(text)
    return pieces


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

#: MIME types that become rich outputs, richest first: the one a bundle is filed under.
RICH_ORDER = (
    "image/png",
    "image/svg+xml",
    "application/vnd.dataframe+json",
    "text/html",
    "application/json",
    "text/markdown",
    "image/jpeg",
    "text/latex",
    "application/vnd.plotly.v1+json",
)
_FORMATS = {
    "image/png": "base64",
    "image/jpeg": "base64",
    "image/svg+xml": "svg",
    "text/html": "html",
    "text/markdown": "markdown",
    "text/latex": "latex",
}

#: Run in the kernel when it starts: a DataFrame's bundle also carries a JSON table.
_STARTUP = r"""
def _hopx_setup():
    import warnings
    # sys.exit() ends the cell with its status; IPython's advice about leaving does not apply.
    warnings.filterwarnings("ignore", message="To exit: use")
    ip = get_ipython()
    def _frame_json(df):
        try:
            head = df.head(1000)
            return {
                "columns": [str(c) for c in head.columns],
                "index": [str(i) for i in head.index],
                "data": __import__("json").loads(head.to_json(orient="values", date_format="iso")),
                "shape": list(df.shape),
            }
        except Exception:
            return None
    from IPython.core.formatters import BaseFormatter

    class _FrameFormatter(BaseFormatter):
        format_type = "application/vnd.dataframe+json"
        _return_type = (dict,)
        print_method = "_hopx_frame_json_"

    formatter = _FrameFormatter(parent=ip.display_formatter)
    ip.display_formatter.formatters[formatter.format_type] = formatter
    ip.display_formatter.active_types.append(formatter.format_type)
    # By name: pandas is looked up only when a DataFrame is shown.
    for module in ("pandas", "pandas.core.frame"):
        formatter.for_type_by_name(module, "DataFrame", _frame_json)
    # plotly's figures show as HTML (and their JSON), as in the service's template; its
    # notebook renderer's one-off set-up script is not an output of anyone's cell.
    import os
    os.environ.setdefault("PLOTLY_RENDERER", "plotly_mimetype+notebook_connected")

    def _drop_plotly_setup(msg):
        data = msg.get("content", {}).get("data")
        html = data.get("text/html") if isinstance(data, dict) else None
        if (
            msg.get("msg_type") == "display_data"
            and isinstance(html, str)
            and "window.PlotlyConfig" in html
            and "newPlot" not in html
            and set(data) <= {"text/html", "text/plain"}
        ):
            return None
        return msg

    ip.display_pub.register_hook(_drop_plotly_setup)

    # A process a cell forks ends with its copy of the cell (as a forked script ends at its
    # end), even by sys.exit(), which IPython catches: it never goes on as a second kernel
    # on the kernel's sockets. A fork that execs (subprocess, !cmd) is not concerned.
    def _child_ends_with_its_cell():
        ip.events.register("post_run_cell", lambda result: os._exit(0))

    os.register_at_fork(after_in_child=_child_ends_with_its_cell)
    # The first write of a cell starts the output machinery: pay for it now, not in the
    # first execution (this output belongs to the start-up request and is not shown).
    import sys
    for stream in (sys.stdout, sys.stderr):
        stream.write(" ")
        stream.flush()
_hopx_setup()
del _hopx_setup
"""


@attrs.frozen
class KernelSupport:
    """Whether this server can run Jupyter kernels, and from where.

    ``site`` is the host directory holding ipykernel when the sandbox must be shown it at
    :data:`KERNEL_SITE_MOUNT` (``None`` when the interpreter's own installation has it);
    ``reason`` says what is missing when ``available`` is false.
    """

    available: bool
    site: str | None = None
    reason: str = ""
    #: The modules a kernel needs that this interpreter cannot import.
    missing: tuple[str, ...] = ()


@functools.cache
def kernel_support() -> KernelSupport:
    """What :class:`KernelSupport` this server has (looked up once)."""
    import sys

    missing = [
        name
        for name in ("ipykernel", "jupyter_client", "zmq")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        return KernelSupport(
            False,
            reason=f"{', '.join(missing)} not installed (pip install 'hopx-sansio[kernel]'); "
            "Python runs in a fresh interpreter per execution",
            missing=tuple(missing),
        )
    spec = importlib.util.find_spec("ipykernel")
    assert spec is not None
    assert spec.origin is not None
    site = os.path.realpath(os.path.dirname(os.path.dirname(spec.origin)))
    base = os.path.realpath(sys.base_prefix)
    return KernelSupport(True, site=None if site.startswith(base + os.sep) else site)


#: The distributions a kernel needs, or offers code when installed; with what they require.
_KERNEL_DISTRIBUTIONS = (
    "ipykernel",
    "jupyter_client",
    "numpy",
    "pandas",
    "matplotlib",
    "plotly",
    # What plotly's ``fig.show()`` needs in a kernel (its MIME renderer checks for it).
    "nbformat",
)
_site_lock = threading.Lock()


def _distributions(site: str) -> list[Any]:
    """The installed distributions of :data:`_KERNEL_DISTRIBUTIONS` in ``site``, with
    everything they require (recursively), each once."""
    metadata = importlib.import_module("importlib.metadata")
    found: dict[str, Any] = {}
    todo = list(_KERNEL_DISTRIBUTIONS)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if os.path.realpath(str(dist.locate_file(""))) != site:
            continue
        found[key] = dist
        for requirement in dist.requires or []:
            named = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
            if named and "extra ==" not in requirement:
                todo.append(named[1])
    return [found[key] for key in sorted(found)]


@functools.cache
def _base_path() -> tuple[str, ...]:
    """The import path of sandboxed Python without the kernel: the interpreter's own
    installation (no virtual environment, no user site), as its ``sys.path`` says."""
    import subprocess

    from .languages import python_executable

    try:
        done = subprocess.run(
            [python_executable(), "-I", "-c", "import json, sys; print(json.dumps(sys.path))"],
            capture_output=True,
            timeout=60,
            check=True,
        )
        found = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return ()
    return tuple(str(entry) for entry in found if isinstance(entry, str) and entry)


def _base_version(name: str) -> str | None:
    """The version of distribution ``name`` that sandboxed Python imports from its own
    installation, None when it has none."""
    metadata = importlib.import_module("importlib.metadata")
    machinery = importlib.import_module("importlib.machinery")
    path = list(_base_path())
    if machinery.PathFinder.find_spec(name, path) is None:
        return None
    for dist in metadata.distributions(name=name, path=path):
        return str(dist.version)
    return "unknown"


def sandbox_packages(names: tuple[str, ...], *, kernel: bool) -> dict[str, str]:
    """Which of the Python distributions ``names`` sandboxed code can import on this host,
    with their versions: those of the kernel's packages when Python runs in the kernel
    (``kernel``), then those of the interpreter's own installation. Blocking (it may run the
    interpreter once)."""
    found: dict[str, str] = {}
    support = kernel_support()
    if kernel and support.available and support.site is not None:
        for dist in _distributions(support.site):
            key = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
            if key in names:
                found[key] = str(dist.version)
    for name in names:
        if name not in found:
            version = _base_version(name)
            if version is not None:
                found[name] = version
    return {name: found[name] for name in names if name in found}


def _cache_home() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME")
    return Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"


@functools.cache
def _prepared_site(site: str) -> str:
    with _site_lock:
        dists = _distributions(site)
        key = hashlib.sha256(
            repr([site, *((d.metadata["Name"], d.version) for d in dists)]).encode()
        ).hexdigest()[:16]
        root = _cache_home() / "hopx-local" / "kernel-site" / key
        done = root / "site-packages"
        if done.is_dir():
            return str(done)
        root.mkdir(parents=True, exist_ok=True, mode=0o755)
        partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=root))
        for dist in dists:
            for entry in dist.files or []:
                relative = Path(str(entry))
                if relative.is_absolute() or ".." in relative.parts:
                    continue
                source = Path(str(dist.locate_file(entry)))
                target = partial / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(source, target)
                except FileExistsError:
                    continue
                except OSError:
                    with contextlib.suppress(OSError):
                        shutil.copy2(source, target)
        os.chmod(partial, 0o755)
        try:
            partial.rename(done)
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
        return str(done)


def kernel_site() -> str | None:
    """The host directory to show the kernel at :data:`KERNEL_SITE_MOUNT`, ``None`` when the
    interpreter's own installation has ipykernel.

    It holds the kernel's distributions and the data stack's (hard links, or copies, of
    their files) and nothing else of the server's environment: neither its other packages
    nor the environment's own path are shown to sandboxed code. Made once per set of
    versions in the user's cache directory; blocking, so call it from a worker thread.
    """
    support = kernel_support()
    if not support.available or support.site is None:
        return None
    return _prepared_site(support.site)


def _strip(text: str) -> str:
    return _ANSI.sub("", text)


def _source(mime: str, bundle: Mapping[str, Any]) -> str:
    plain = str(bundle.get("text/plain", ""))
    if mime in ("image/png", "image/svg+xml") and plain.startswith("<Figure size"):
        return "matplotlib"
    if "application/vnd.plotly.v1+json" in bundle or (
        mime == "text/html" and "Plotly.newPlot" in str(bundle.get(mime, ""))
    ):
        return "plotly"
    if mime == "application/vnd.dataframe+json" or (
        mime == "text/html" and 'class="dataframe' in str(bundle.get(mime, ""))[:2000]
    ):
        return "pandas"
    return "other"


#: The deepest nesting of a JSON output that is passed on (plotly's figures nest about ten
#: levels): a deeper one would exhaust the recursion of the encoders on the way.
MAX_JSON_DEPTH = 64


def _json_depth_over(data: object, limit: int) -> bool:
    """Whether ``data`` nests deeper than ``limit`` (iteratively: any depth is measured)."""
    todo: list[tuple[object, int]] = [(data, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            items = value.values() if isinstance(value, dict) else value
            todo.extend((item, depth + 1) for item in items)
    return False


def _problem(mime: str, data: object) -> str | None:
    """Why the ``data`` of a ``mime`` output cannot be passed on, or None."""
    if mime in _FORMATS:
        if not isinstance(data, str):
            return f"its data is {type(data).__name__}, not text"
        return None
    if not isinstance(data, dict | list):
        return f"its data is {type(data).__name__}, not a JSON object or array"
    if _json_depth_over(data, MAX_JSON_DEPTH):
        return f"it nests deeper than {MAX_JSON_DEPTH} levels"
    return None


def checked_outputs(bundle: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The rich outputs of one display bundle (as :func:`bundle_outputs`), and a sentence for
    each output left out because its data is not what its MIME type says."""
    found = []
    notes = []
    for mime in RICH_ORDER:
        if mime not in bundle:
            continue
        data = bundle[mime]
        problem = _problem(mime, data)
        if problem is not None:
            notes.append(f"a display output of type {mime} was dropped: {problem}")
            continue
        size = len(data) if isinstance(data, str) else len(json.dumps(data))
        found.append(
            {
                "type": mime,
                "format": _FORMATS.get(mime, "json"),
                "data": data,
                "metadata": {"source": _source(mime, bundle), "size": size},
            }
        )
    return found, notes


def bundle_outputs(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rich outputs of one display bundle: one entry per rich MIME type it carries.

    Each entry is ``{"type", "format", "data", "metadata": {"source", "size"}}``; ``data`` is
    the payload as the kernel sent it (base64 text for images). An output whose data is not
    what its type says (not text for an image or HTML, not a JSON object or array, or nested
    deeper than :data:`MAX_JSON_DEPTH`) is left out (:func:`checked_outputs` says why).
    """
    return checked_outputs(bundle)[0]


class KernelDied(Exception):
    """The kernel process is gone."""


class SandboxKernel:
    """One running kernel of a sandbox (see the module docstring).

    ``spawn`` starts a process in the sandbox from (argv, env, cwd, stdout fd) and returns it;
    ``host_dir`` is the kernel's directory on the host and ``view`` the same directory as the
    sandbox sees it; ``owner`` is the (uid, gid) sandboxed code runs as, if not ours.
    """

    def __init__(self, host_dir: Path, view: str, owner: tuple[int, int] | None) -> None:
        self.kernel_id = secrets.token_hex(8)
        self.host_dir = host_dir
        self.view = view
        self.owner = owner
        self.execution_state = "starting"
        self.last_activity = time.time()
        self.execution_count = 0
        self.process: SandboxProcess | None = None
        self._zmq: Any = importlib.import_module("zmq")
        self._session: Any = None
        self._context: Any = None
        self._shell: Any = None
        self._iopub: Any = None
        self._lock = anyio.Lock()
        self._dir_fd: int | None = None
        self._heartbeat: Any = None
        #: Set while the sandbox is paused: a stopped kernel answers nothing, and is not hung.
        self.paused = False
        #: The request of the running cell, its execute reply if it came before the end of
        #: its output, and when the kernel last showed life (monotonic seconds).
        self._cell: str | None = None
        self._early_reply: tuple[dict[str, Any], float] | None = None
        #: The request of a cell stopped from outside whose reply has not been read.
        self._stopped: str | None = None
        self._alive_at = 0.0
        self._pinged_at = 0.0
        self._cwd: str | None = None
        self._env: dict[str, str] = {}

    # -- starting --------------------------------------------------------------------------

    def prepare(self) -> str:
        """Create the kernel's directory and connection file; the file's sandbox path."""
        session_mod = importlib.import_module("jupyter_client.session")
        key = secrets.token_hex(32)
        self._session = session_mod.Session(
            key=key.encode(), signature_scheme="hmac-sha256", username="hopx"
        )
        self.host_dir.mkdir(mode=0o700)
        if self.owner is not None:
            os.chown(self.host_dir, *self.owner)
        connection = {
            "transport": "ipc",
            "ip": f"{self.view}/k",
            "shell_port": 1,
            "iopub_port": 2,
            "stdin_port": 3,
            "control_port": 4,
            "hb_port": 5,
            "key": key,
            "signature_scheme": "hmac-sha256",
            "kernel_name": "python3",
        }
        # The connection file has a directory of its own that stays the sandbox's: once its
        # sockets are bound the kernel may rewrite the file, and by then the server may have
        # sealed the sockets' directory (:meth:`_seal`).
        conf = self.host_dir / "conf"
        conf.mkdir(mode=0o700)
        if self.owner is not None:
            os.chown(conf, *self.owner)
        path = conf / "connection.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(connection, handle)
        if self.owner is not None:
            os.chown(path, *self.owner)
        return f"{self.view}/conf/connection.json"

    def _endpoint(self, port: int) -> str:
        path = str(self.host_dir / f"k-{port}")
        if len(path) < 100:
            return f"ipc://{path}"
        # A Unix socket path is at most 107 bytes: reach a long one through a descriptor.
        if self._dir_fd is None:
            self._dir_fd = os.open(self.host_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return f"ipc:///proc/self/fd/{self._dir_fd}/k-{port}"

    async def connect(self, process: SandboxProcess) -> None:
        """Connect to the kernel ``process`` runs and wait until it answers (bounded)."""
        zmq = self._zmq
        self.process = process
        self._context = zmq.Context()
        shell = self._context.socket(zmq.DEALER)
        iopub = self._context.socket(zmq.SUB)
        for sock in (shell, iopub):
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, _HARD_MESSAGE)
        iopub.setsockopt(zmq.SUBSCRIBE, b"")
        # The kernel drops output its subscriber cannot take: we read it as fast as it comes
        # (and keep only up to the output cap), so nothing is dropped on the way.
        iopub.setsockopt(zmq.RCVHWM, 0)
        self._shell, self._iopub = shell, iopub
        with anyio.fail_after(_START_TIMEOUT):
            # All five (shell, iopub, stdin, control, heartbeat) before the directory is
            # sealed: the kernel could not bind a missing one afterwards.
            while not all((self.host_dir / f"k-{port}").exists() for port in range(1, 6)):
                self._check_alive()
                await anyio.sleep(0.02)
            self._seal()
            shell.connect(self._endpoint(1))
            iopub.connect(self._endpoint(2))
            heartbeat = self._context.socket(zmq.DEALER)
            heartbeat.setsockopt(zmq.LINGER, 0)
            heartbeat.setsockopt(zmq.MAXMSGSIZE, 1024)
            heartbeat.connect(self._endpoint(5))
            self._heartbeat = heartbeat
            # Until the subscription is in place the kernel's first messages are lost: ask
            # again until the answer shows up on both channels.
            while True:
                request = self._send("kernel_info_request", {})
                until = anyio.current_time() + 1.0
                seen = False
                while not seen:
                    message = await self._next(self._iopub, until)
                    if message is None:
                        break
                    seen = message["parent_header"].get("msg_id") == request
                if seen:
                    break
            await self._send_silent(_STARTUP, anyio.current_time() + _START_TIMEOUT)
        self.execution_state = "idle"

    def _seal(self) -> None:
        """Once the kernel has bound its sockets, take the directory back from the sandbox's
        user, then check they are sockets: code cannot swap one for a link that would lead
        the server's connection (or reconnection) to another socket of the host."""
        if self.owner is not None:
            # Searchable by everyone first, then the server's: the kernel opens its connection
            # file through this directory right after binding, and must never find it closed.
            os.chmod(self.host_dir, 0o755)
            os.chown(self.host_dir, os.geteuid(), os.getegid())
        for port in (1, 2, 5):
            info = os.lstat(self.host_dir / f"k-{port}")
            if not stat.S_ISSOCK(info.st_mode):
                raise KernelDied

    # -- messages --------------------------------------------------------------------------

    def _check_alive(self) -> None:
        if self.process is None or self.process.returncode is not None:
            raise KernelDied

    def _watch(self) -> None:
        """While a cell runs and the kernel is silent: is it still there? KernelDied when its
        output channel is gone (the execute reply came, the end of the output did not) or it
        stopped answering its heartbeat."""
        if self._cell is None or self._heartbeat is None:
            return
        zmq = self._zmq
        now = time.monotonic()
        if self.paused:
            self._alive_at = now
            return
        while True:
            try:
                self._heartbeat.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            self._alive_at = now
        if self._early_reply is None:
            try:
                frames = self._shell.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                frames = None
            message = self._parse(frames) if frames is not None else None
            if message is not None and message["parent_header"].get("msg_id") == self._cell:
                self._early_reply = (message, now)
        if self._early_reply is not None and now - self._early_reply[1] > _OUTPUT_GRACE:
            raise KernelDied("its output channel closed: the cell's end never came")
        if now - self._pinged_at >= _HEARTBEAT_EVERY:
            self._pinged_at = now
            with contextlib.suppress(zmq.Again):
                self._heartbeat.send(b"ping", zmq.NOBLOCK)
        if now - self._alive_at > _HEARTBEAT_TIMEOUT:
            raise KernelDied(f"it answered no heartbeat for {_HEARTBEAT_TIMEOUT:g} s")

    def _send(self, msg_type: str, content: dict[str, Any]) -> str:
        message = self._session.msg(msg_type, content)
        self._session.send(self._shell, message)
        return str(message["header"]["msg_id"])

    def _parse(self, frames: list[bytes]) -> dict[str, Any] | None:
        size = sum(len(frame) for frame in frames)
        try:
            _idents, rest = self._session.feed_identities(frames, copy=True)
        except Exception:  # noqa: BLE001  (a message that does not check out is dropped)
            return None
        try:
            message = self._session.deserialize(rest, content=True, copy=True)
        except Exception:  # noqa: BLE001
            return _unreadable(rest, size)
        if not isinstance(message, dict) or not isinstance(message.get("content"), dict):
            return None
        if not isinstance(message.get("parent_header"), dict):
            return None
        message["size"] = size
        return message

    async def _next(self, sock: Any, until: float) -> dict[str, Any] | None:
        """The next well-formed message on ``sock``; None at ``until``; KernelDied."""
        zmq = self._zmq
        while True:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                frames = None
            if frames is not None:
                message = self._parse(frames)
                if message is not None:
                    self._alive_at = time.monotonic()
                    if self._early_reply is not None:
                        # Output still comes: the grace for its end starts again.
                        self._early_reply = (self._early_reply[0], self._alive_at)
                    return message
                continue
            self._check_alive()
            self._watch()
            now = anyio.current_time()
            if now >= until:
                return None
            with anyio.move_on_after(min(_POLL, until - now)):
                await anyio.wait_readable(sock.getsockopt(zmq.FD))

    async def _reply(self, msg_id: str, until: float) -> dict[str, Any] | None:
        while True:
            message = await self._next(self._shell, until)
            if message is None or message["parent_header"].get("msg_id") == msg_id:
                return message

    async def _send_silent(self, code: str, until: float) -> None:
        msg_id = self._send(
            "execute_request",
            {"code": code, "silent": True, "store_history": False, "allow_stdin": False},
        )
        if await self._reply(msg_id, until) is None:
            raise TimeoutError

    # -- executing -------------------------------------------------------------------------

    def _program_pid(self) -> int | None:
        """The host pid of the kernel's program: the child of the process's reaper."""
        process = self.process
        if process is None or process.host_pid <= 0:
            return None
        children = _children(process.host_pid)
        return children[0] if children else None

    def interrupt(self) -> None:
        """SIGINT to the kernel (the program below the process's reaper), not to a process
        a cell started."""
        pid = self._program_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGINT)

    async def _prepare_cell(self, env: Mapping[str, str], cwd: str, until: float) -> None:
        changed = {k: v for k, v in env.items() if self._env.get(k) != v}
        if not changed and cwd == self._cwd:
            return
        code = (
            f"__import__('os').environ.update({json.dumps(changed)})\n"
            f"__import__('os').chdir({json.dumps(cwd)})\n"
        )
        await self._send_silent(code, until)
        self._env.update(changed)
        self._cwd = cwd

    async def run(
        self,
        code: str,
        *,
        env: Mapping[str, str],
        cwd: str,
        timeout: float,  # noqa: ASYNC109
        output_cap: int,
    ) -> AsyncGenerator[tuple[str, Any], None]:
        """Run one cell: ("stdout"|"stderr", text) and ("display", output) as they come,
        then ("exit", summary) with ``exit_code``, ``timed_out``, ``truncated``, ``rich``,
        ``result`` and, when the cell failed, ``error`` (and ``kernel_restarted`` if the
        kernel is gone: it died, or ignored the interrupt at the timeout)."""
        started = anyio.current_time()
        deadline = started + timeout
        summary: dict[str, Any] = {"timed_out": False, "truncated": False, "rich": []}
        with anyio.move_on_after(timeout) as waited:
            await self._lock.acquire()
        if waited.cancelled_caught:
            summary.update(
                exit_code=1,
                timed_out=True,
                error=f"Execution timed out after {timeout:g} s waiting for the kernel, "
                "busy with another execution",
            )
            yield "exit", summary
            return
        try:
            cell = self._run_locked(code, env, cwd, (deadline, timeout), output_cap, summary)
            async with contextlib.aclosing(cell) as events:
                async for event in events:
                    yield event
        finally:
            self._lock.release()

    async def _run_locked(
        self,
        code: str,
        env: Mapping[str, str],
        cwd: str,
        limits: tuple[float, float],
        output_cap: int,
        summary: dict[str, Any],
    ) -> AsyncGenerator[tuple[str, Any], None]:
        deadline, timeout = limits
        captures = {"stdout": OutputCapture(output_cap), "stderr": OutputCapture(output_cap)}
        decoders = {k: codecs.getincrementaldecoder("utf-8")(errors="replace") for k in captures}
        self.execution_state = "busy"
        self.last_activity = time.time()
        interrupted_at: float | None = None
        held: dict[str, str] = {}
        held_at: float | None = None
        status = "ok"
        exit_code = 0
        msg_id: str | None = None
        try:
            await self._prepare_cell(env, cwd, deadline)
            msg_id = self._send(
                "execute_request",
                {
                    "code": code,
                    "silent": False,
                    "store_history": True,
                    "user_expressions": {},
                    "allow_stdin": False,
                    "stop_on_error": True,
                },
            )
            until = deadline
            self._cell, self._early_reply = msg_id, None
            self._alive_at = time.monotonic()
            while True:
                waiting = until if held_at is None else min(until, held_at + _LINE_WAIT)
                message = await self._next(self._iopub, waiting)
                if message is None and held_at is not None and anyio.current_time() < until:
                    # No end of line came: what was flushed without one goes out as it is.
                    for name in list(held):
                        for piece in frame_pieces(held.pop(name)):
                            yield name, piece
                    held_at = None
                    continue
                if message is None:
                    if interrupted_at is None:
                        summary["timed_out"] = True
                        interrupted_at = anyio.current_time()
                        self.interrupt()
                        until = interrupted_at + _INTERRUPT_GRACE
                        continue
                    raise TimeoutError
                if message["parent_header"].get("msg_id") != msg_id:
                    continue
                kind = message.get("msg_type") or message.get("header", {}).get("msg_type")
                content = message["content"]
                if kind in ("display_data", "execute_result") and (
                    message["size"] > MAX_MESSAGE or message.get("unreadable")
                ):
                    note = (
                        f"a display output of {message['size']} bytes was dropped: over the "
                        f"{MAX_MESSAGE >> 20} MiB limit of one output"
                        if message["size"] > MAX_MESSAGE
                        else "a display output was dropped: it is not JSON the server can read"
                    )
                    status = "error"
                    summary["error"] = note
                    kept = captures["stderr"].add(f"{note}\n".encode())
                    if kept:
                        yield "stderr", kept.decode()
                    continue
                if kind == "status" and content.get("execution_state") == "idle":
                    break
                if kind == "stream":
                    name = "stderr" if content.get("name") == "stderr" else "stdout"
                    data = str(content.get("text", "")).encode("utf-8", "surrogatepass")
                    text = held.pop(name, "") + decoders[name].decode(captures[name].add(data))
                    # Whole lines go out at once; a line's start waits briefly for its end
                    # (the kernel may flush between a print's text and its newline).
                    lines, newline, rest = text.rpartition("\n")
                    if len(rest) > FRAME_TEXT:  # a long line goes out in frame-sized parts
                        cut = len(rest) - len(rest) % FRAME_TEXT
                        lines, rest = lines + newline + rest[:cut], rest[cut:]
                        newline = ""
                    for piece in frame_pieces(lines + newline):
                        yield name, piece
                    if rest:
                        held[name] = rest
                        held_at = held_at if held_at is not None else anyio.current_time()
                    elif not held:
                        held_at = None
                elif kind in ("display_data", "execute_result"):
                    bundle = content.get("data")
                    if not isinstance(bundle, dict):
                        continue
                    outputs, notes = checked_outputs(bundle)
                    for note in notes:
                        status = "error"
                        summary["error"] = note
                        kept = captures["stderr"].add(f"{note}\n".encode())
                        if kept:
                            yield "stderr", kept.decode()
                    if kind == "execute_result" and "text/plain" in bundle:
                        summary["result"] = str(bundle["text/plain"])
                    elif not outputs and "text/plain" in bundle:
                        line = (str(bundle["text/plain"]) + "\n").encode()
                        text = decoders["stdout"].decode(captures["stdout"].add(line))
                        if text:
                            yield "stdout", text
                    for output in outputs:
                        summary["rich"].append(output)
                        yield "display", output
                elif kind == "error" and content.get("ename") == "SystemExit":
                    # sys.exit(n) ends the cell, not the kernel: its status is the exit code.
                    exit_code = _exit_status(str(content.get("evalue", "")))
                    status = "ok" if exit_code == 0 else "exit"
                elif kind == "error":
                    status = "error"
                    summary["error"] = (
                        f"{content.get('ename', 'Error')}: {content.get('evalue', '')}".strip()
                    )
                    traceback = content.get("traceback")
                    frames = traceback if isinstance(traceback, list) else []
                    text = _strip("\n".join(str(frame) for frame in frames)) + "\n"
                    shown = held.pop("stderr", "") + decoders["stderr"].decode(
                        captures["stderr"].add(text.encode())
                    )
                    for piece in frame_pieces(shown):
                        yield "stderr", piece
            early, self._early_reply = self._early_reply, None
            self._cell = None  # the reply is read below, not taken by the watch
            reply = (
                early[0]
                if early is not None
                else await self._reply(msg_id, anyio.current_time() + _REPLY_GRACE)
            )
            if reply is not None:
                if status == "ok" and reply["content"].get("status") == "error":
                    status = "error"
                count = reply["content"].get("execution_count")
                if isinstance(count, int):
                    self.execution_count = count
            self.execution_state = "idle"
        except KernelDied as exc:
            code_ = self.process.returncode if self.process is not None else None
            status = "died"
            summary["kernel_restarted"] = True
            if code_ is None and exc.args:
                # Still running, but of no more use: it goes now, not at the next call.
                summary["error"] = (
                    f"The kernel stopped working ({exc.args[0]}), so it was restarted; the "
                    "next execution starts a fresh kernel and earlier state is lost"
                )
                await self.shutdown()
            else:
                summary["error"] = (
                    "The kernel died"
                    + (f" (exit status {_exit_text(code_)})" if code_ is not None else "")
                    + "; the next execution starts a fresh kernel and earlier state is lost"
                )
        except TimeoutError:
            status = "died"
            summary["kernel_restarted"] = True
            summary["error"] = (
                f"Execution timed out after {timeout:g} s; "
                "the cell ignored the interrupt, so the kernel was restarted and earlier "
                "state is lost"
            )
            await self.shutdown()
        finally:
            self._cell = self._early_reply = None
            if self.execution_state == "busy" and status not in ("died",):
                # Cancelled mid-cell (the client went away): stop the cell, keep the kernel
                # (the next cell's messages are told apart by their request).
                self.interrupt()
                self.execution_state = "idle"
                self._stopped = msg_id
        for name, decoder in decoders.items():
            tail = held.pop(name, "") + decoder.decode(b"", final=True)
            for piece in frame_pieces(tail):
                yield name, piece
        if summary["timed_out"] and not summary.get("kernel_restarted"):
            summary["error"] = (
                f"Execution timed out after {timeout:g} s: "
                "the cell was interrupted; the kernel and its state are kept"
            )
        if status == "died":
            self.execution_state = "dead"
        summary["truncated"] = any(capture.truncated for capture in captures.values())
        if summary["timed_out"]:
            # As every execution past its timeout reports it (a process killed by SIGKILL);
            # ``timed_out`` and ``error`` say what happened to the cell.
            exit_code = 137
        elif status != "exit":
            exit_code = 0 if status == "ok" else 1
        summary["exit_code"] = exit_code
        self.last_activity = time.time()
        yield "exit", summary

    def settled(self, env: Mapping[str, str], cwd: str) -> None:
        """Record the environment and working directory the kernel started with."""
        self._env = dict(env)
        self._cwd = cwd

    @property
    def alive(self) -> bool:
        """Whether the kernel can take another cell."""
        return (
            self.process is not None
            and self.process.returncode is None
            and self.execution_state != "dead"
        )

    def kill_children(self) -> int:
        """SIGKILL every process the kernel's program started (a cell's forks and their
        children), not the kernel itself; how many were signalled."""
        program = self._program_pid()
        if program is None:
            return 0
        found: list[int] = []
        todo = _children(program)
        while todo and len(found) < 4096:
            pid = todo.pop()
            found.append(pid)
            todo.extend(_children(pid))
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        return len(found)

    async def settle(self, grace: float = _INTERRUPT_GRACE) -> bool:
        """After a cell was stopped from outside: wait until the kernel takes a new request
        (up to ``grace`` seconds after it may run); shut it down if it does not. Whether it
        is still usable (as far as it is known: a kernel busy with another execution for the
        whole ``grace`` is left to it)."""
        acquired = False
        with anyio.move_on_after(grace):
            await self._lock.acquire()
            acquired = True
        if not acquired:
            return self.alive
        try:
            if not self.alive:
                return False
            stopped, self._stopped = self._stopped, None
            until = anyio.current_time() + grace
            try:
                msg_id = self._send(
                    "execute_request",
                    {"code": "pass", "silent": True, "store_history": False, "allow_stdin": False},
                )
                # SIGINT again and again while the stopped cell has not answered (one that
                # came before the kernel took up the cell was ignored), less and less often;
                # once it has answered, the kernel only has to reach the request above.
                again = _INTERRUPT_AGAIN
                interrupt_at = anyio.current_time() + again  # the first went as it stopped
                while anyio.current_time() < until:
                    if stopped is not None and anyio.current_time() >= interrupt_at:
                        self.interrupt()
                        interrupt_at = anyio.current_time() + again
                        again *= 2
                    wait = until if stopped is None else min(until, interrupt_at)
                    message = await self._next(self._shell, wait)
                    if message is None:
                        continue
                    parent = message["parent_header"].get("msg_id")
                    if parent == msg_id:
                        return True
                    if parent == stopped:
                        stopped = None
            except KernelDied:
                pass
            await self.shutdown()
            return False
        finally:
            self._lock.release()

    # -- stopping --------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Kill the kernel and close the sockets (bounded, safe under cancellation)."""
        self.execution_state = "dead"
        with anyio.CancelScope(shield=True):
            for sock in (self._shell, self._iopub):
                if sock is not None:
                    with contextlib.suppress(Exception):
                        anyio.notify_closing(sock.getsockopt(self._zmq.FD))
                    sock.close(0)
            if self._heartbeat is not None:
                self._heartbeat.close(0)
            self._shell = self._iopub = self._heartbeat = None
            if self._context is not None:
                self._context.term()
                self._context = None
            if self.process is not None:
                await terminate(self.process)
            if self._dir_fd is not None:
                os.close(self._dir_fd)
                self._dir_fd = None


def _unreadable(rest: list[bytes], size: int) -> dict[str, Any] | None:
    """A message whose content does not parse (nested too deep for the JSON parser, say),
    as its header and parent header tell of it, marked ``unreadable``; None when those do
    not parse either. Nothing is trusted of it but the request it answers."""
    try:
        header, parent = json.loads(rest[1]), json.loads(rest[2])
    except (IndexError, ValueError, RecursionError):
        return None
    if not isinstance(header, dict) or not isinstance(parent, dict):
        return None
    if header.get("msg_type") not in ("display_data", "execute_result"):
        return None  # only a display is worth a note; anything else is dropped
    return {
        "msg_type": header.get("msg_type"),
        "header": header,
        "parent_header": parent,
        "content": {},
        "size": size,
        "unreadable": True,
    }


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (of all its threads), from /proc."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        with contextlib.suppress(OSError, ValueError):
            found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return found


def _exit_status(value: str) -> int:
    """The exit code ``sys.exit(value)`` means (as the interpreter would exit)."""
    text = value.strip()
    if text in ("", "None"):
        return 0
    try:
        return int(text) & 0xFF
    except ValueError:
        return 1


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
    return str(returncode)


async def start_kernel(
    kernel: SandboxKernel,
    spawn: Callable[[list[str]], Awaitable[SandboxProcess]],
    argv_prefix: list[str],
) -> None:
    """Start ``kernel``'s process with ``spawn`` and connect (a fault if it does not come up)."""
    connection = kernel.prepare()
    argv = [
        *argv_prefix,
        "-m",
        "ipykernel_launcher",
        "-f",
        connection,
        "--HistoryManager.enabled=False",
        "--IPKernelApp.quiet=True",
    ]
    process = await spawn(argv)
    try:
        await kernel.connect(process)
    except BaseException as exc:
        await kernel.shutdown()
        if isinstance(exc, KernelDied | TimeoutError):
            raise fault(
                "EXECUTION_FAILED",
                "the Python kernel did not start"
                + (" (it exited)" if isinstance(exc, KernelDied) else " in time"),
            ) from None
        raise
