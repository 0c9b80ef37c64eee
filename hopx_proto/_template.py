"""The template builder, without I/O: ``hopx_ai.template``'s fluent API and its wire form.

:class:`Template` collects a base image, steps, a start command and its ready check, with the
names, parameters and defaults of ``hopx_ai`` 0.5.0. :func:`validate_template`,
:func:`step_to_wire`, :func:`ready_check_to_wire` and :func:`build_request` turn it into the
``POST /v1/templates/build`` arguments. The build itself (hashing and uploading the ``COPY``
sources, polling status and logs) is :mod:`hopx_proto.aio`'s.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import pathlib
from collections.abc import Callable
from typing import Any, Self

from ._errors import LocalProtocolError
from ._models.control import RegistryCredentials
from ._ops.control import BuildTemplate

__all__ = [
    "AWSRegistryAuth",
    "BuildOptions",
    "CopyOptions",
    "CreateVMOptions",
    "GCPRegistryAuth",
    "LogEntry",
    "LogsResponse",
    "ReadyCheck",
    "ReadyCheckType",
    "RegistryAuth",
    "StatusUpdate",
    "Step",
    "StepType",
    "Template",
    "build_request",
    "copy_sources",
    "ready_check_to_wire",
    "step_to_wire",
    "validate_template",
    "wait_for_command",
    "wait_for_file",
    "wait_for_port",
    "wait_for_process",
    "wait_for_url",
]

DEFAULT_BASE_URL = "https://api.hopx.dev"


class StepType(str, enum.Enum):  # noqa: UP042  # str() as in the official client
    """The kinds of build step (the base image is :attr:`Template.from_image`, not a step)."""

    COPY = "COPY"
    RUN = "RUN"
    ENV = "ENV"
    WORKDIR = "WORKDIR"
    USER = "USER"
    CMD = "CMD"


@dataclasses.dataclass
class RegistryAuth:
    """Basic credentials of a private registry."""

    username: str
    password: str = dataclasses.field(repr=False)


@dataclasses.dataclass
class GCPRegistryAuth:
    """Google registry credentials: a service account JSON file path, or its parsed dict."""

    service_account_json: Any = dataclasses.field(repr=False)


@dataclasses.dataclass
class AWSRegistryAuth:
    """AWS ECR credentials."""

    access_key_id: str
    secret_access_key: str = dataclasses.field(repr=False)
    region: str
    session_token: str | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass
class Step:
    """One build step: its kind, its arguments, and the content hash of a ``COPY``."""

    type: StepType
    args: list[str]
    files_hash: str | None = None
    skip_cache: bool = False
    registry_auth: RegistryAuth | None = None
    gcp_auth: GCPRegistryAuth | None = None
    aws_auth: AWSRegistryAuth | None = None


@dataclasses.dataclass
class CopyOptions:
    """Options of a ``COPY`` step (accepted as the official client does, not sent)."""

    owner: str | None = None
    permissions: str | None = None


class ReadyCheckType(str, enum.Enum):  # noqa: UP042  # str() as in the official client
    """How a started template shows it is ready."""

    PORT = "port"
    URL = "url"
    FILE = "file"
    PROCESS = "process"
    COMMAND = "command"


@dataclasses.dataclass
class ReadyCheck:
    """A ready check; ``timeout`` and ``interval`` are in milliseconds."""

    type: ReadyCheckType
    port: int | None = None
    url: str | None = None
    path: str | None = None
    process_name: str | None = None
    command: str | None = None
    timeout: int = 30000
    interval: int = 2000


@dataclasses.dataclass
class BuildOptions:
    """How to build a template.

    Attributes:
        name: the template's name.
        api_key: the API key (sent as ``Authorization: Bearer``).
        base_url: the control plane.
        cpu: vCPUs of the template's sandboxes.
        memory: memory of the template's sandboxes, in MB.
        disk_gb: disk of the template's sandboxes, in GB.
        skip_cache: rebuild every step, ignoring cached layers.
        context_path: the directory ``COPY`` sources are relative to (the working directory
            when ``None``).
        on_log: called with ``{"level", "message", "timestamp"}`` for each log line.
        on_progress: called with the build's progress in percent.
        update: replace an existing template of that name.
        template_activation_timeout: seconds to wait for the build to finish, and again for
            the built template to become active (``HOPX_TEMPLATE_BAKE_SECONDS``, else 2700,
            when ``None``).
    """

    name: str
    api_key: str = dataclasses.field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    cpu: int = 2
    memory: int = 2048
    disk_gb: int = 10
    skip_cache: bool = False
    context_path: str | None = None
    on_log: Callable[[dict[str, Any]], None] | None = None
    on_progress: Callable[[int], None] | None = None
    update: bool = False
    template_activation_timeout: int | None = None


@dataclasses.dataclass
class LogEntry:
    """One build log entry."""

    timestamp: str
    level: str
    message: str


@dataclasses.dataclass
class StatusUpdate:
    """One build status update."""

    status: str
    progress: int
    current_step: str | None = None


@dataclasses.dataclass
class CreateVMOptions:
    """Options of :meth:`BuildResult.create_vm`."""

    alias: str | None = None
    cpu: int | None = None
    memory: int | None = None
    disk_gb: int | None = None
    env_vars: dict[str, str] | None = None


@dataclasses.dataclass
class LogsResponse:
    """One poll of a build's log: the text after ``offset``, the next offset, the status."""

    logs: str
    offset: int
    status: str
    complete: bool
    request_id: str | None = None


# ---------------------------------------------------------------------------------------------
# Ready checks


def wait_for_port(port: int, timeout: int = 30000, interval: int = 2000) -> ReadyCheck:
    """Ready when a TCP port accepts connections.

    Args:
        port: the port inside the sandbox.
        timeout: milliseconds to wait at most.
        interval: milliseconds between checks.

    Returns:
        The ready check.
    """
    return ReadyCheck(type=ReadyCheckType.PORT, port=port, timeout=timeout, interval=interval)


def wait_for_url(url: str, timeout: int = 30000, interval: int = 2000) -> ReadyCheck:
    """Ready when an HTTP URL answers 200.

    Args:
        url: the URL, as seen inside the sandbox.
        timeout: milliseconds to wait at most.
        interval: milliseconds between checks.

    Returns:
        The ready check.
    """
    return ReadyCheck(type=ReadyCheckType.URL, url=url, timeout=timeout, interval=interval)


def wait_for_file(path: str, timeout: int = 30000, interval: int = 2000) -> ReadyCheck:
    """Ready when a file exists.

    Args:
        path: the file's absolute path inside the sandbox.
        timeout: milliseconds to wait at most.
        interval: milliseconds between checks.

    Returns:
        The ready check.
    """
    return ReadyCheck(type=ReadyCheckType.FILE, path=path, timeout=timeout, interval=interval)


def wait_for_process(process_name: str, timeout: int = 30000, interval: int = 2000) -> ReadyCheck:
    """Ready when a process of that name runs.

    Args:
        process_name: the process name.
        timeout: milliseconds to wait at most.
        interval: milliseconds between checks.

    Returns:
        The ready check.
    """
    return ReadyCheck(
        type=ReadyCheckType.PROCESS, process_name=process_name, timeout=timeout, interval=interval
    )


def wait_for_command(command: str, timeout: int = 30000, interval: int = 2000) -> ReadyCheck:
    """Ready when a shell command exits with 0.

    Args:
        command: the command, run inside the sandbox.
        timeout: milliseconds to wait at most.
        interval: milliseconds between checks.

    Returns:
        The ready check.
    """
    return ReadyCheck(
        type=ReadyCheckType.COMMAND, command=command, timeout=timeout, interval=interval
    )


# ---------------------------------------------------------------------------------------------
# The builder


def _flatten(packages: tuple[str | list[str] | None, ...]) -> list[str]:
    out: list[str] = []
    for item in packages:
        if item is None:
            continue
        if isinstance(item, list):
            out.extend(item)
        else:
            out.append(item)
    return out


class Template:
    """A template to build: a base image, then steps, then a start command (fluent API).

    Every step method appends one step and returns the template, so calls chain:
    ``Template().from_python_image("3.11").pip_install("flask").copy("app/", "/app")``.

    Args:
        from_image: the base image (``"python:3.11"``, ``"ubuntu:22.04"``, ...).
    """

    def __init__(self, from_image: str | None = None) -> None:
        self.from_image: str | None = from_image
        self.steps: list[Step] = []
        self.start_cmd: str | None = None
        self.ready_check: ReadyCheck | None = None
        self.registry_auth: RegistryAuth | None = None
        self._metadata: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"<Template from {self.from_image!r}, {len(self.steps)} steps>"

    # -- base images ----------------------------------------------------------------------

    def from_ubuntu_image(self, version: str) -> Self:
        """Start from ``ubuntu:{version}``.

        Args:
            version: the Ubuntu release (``"22.04"``).
        """
        self.from_image = f"ubuntu:{version}"
        return self

    def from_python_image(self, version: str) -> Self:
        """Start from ``python:{version}``.

        Args:
            version: the Python version (``"3.11"``).
        """
        self.from_image = f"python:{version}"
        return self

    def from_node_image(self, version: str) -> Self:
        """Start from ``node:{version}-slim`` (the Debian-based image).

        Args:
            version: the Node.js major version (``"20"``).
        """
        self.from_image = f"node:{version}-slim"
        return self

    def from_private_image(self, image: str, auth: RegistryAuth) -> Self:
        """Start from an image of a private registry (basic credentials).

        Args:
            image: the image reference.
            auth: the registry's username and password (or token).
        """
        self.from_image = image
        self.registry_auth = auth
        return self

    def from_gcp_private_image(self, image: str, auth: GCPRegistryAuth) -> Self:
        """Start from a Google registry image; a service-account file path is read now.

        Args:
            image: the image reference.
            auth: the service account (a JSON file path or the parsed JSON).

        Raises:
            LocalProtocolError: the service-account file cannot be read or is not JSON.
        """
        account = auth.service_account_json
        if isinstance(account, str):
            try:
                account = json.loads(pathlib.Path(account).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise LocalProtocolError(
                    f"cannot read the service account file {auth.service_account_json!r}: {exc}"
                ) from None
        self.from_image = image
        self.registry_auth = RegistryAuth(username="_json_key", password=json.dumps(account))
        return self

    def from_aws_private_image(self, image: str, auth: AWSRegistryAuth) -> Self:
        """Start from an ECR image (the service exchanges the credentials for a token).

        Args:
            image: the image reference.
            auth: the IAM credentials.
        """
        self.from_image = image
        self.registry_auth = RegistryAuth(
            username=auth.access_key_id, password=auth.secret_access_key
        )
        return self

    # -- steps ----------------------------------------------------------------------------

    def copy(self, src: str | list[str], dest: str, options: CopyOptions | None = None) -> Self:
        """Copy local files (relative to the build's ``context_path``) into the template.

        Args:
            src: a path or glob, or a list of them (``"."``, ``"app/"``, ``["a.py", "b.py"]``).
            dest: the destination inside the template.
            options: owner and permissions (accepted, not sent, as by the official client).
        """
        sources = src if isinstance(src, list) else [src]
        self.steps.append(Step(type=StepType.COPY, args=[",".join(sources), dest]))
        return self

    def run_cmd(self, cmd: str) -> Self:
        """Run a shell command during the build.

        Args:
            cmd: the command, run by ``/bin/sh -c``.
        """
        self.steps.append(Step(type=StepType.RUN, args=[cmd]))
        return self

    def set_env(self, key: str, value: str) -> Self:
        """Set an environment variable for later steps and the template's sandboxes.

        Args:
            key: the variable's name.
            value: its value.
        """
        self.steps.append(Step(type=StepType.ENV, args=[key, value]))
        return self

    def set_envs(self, vars: dict[str, str]) -> Self:
        """Set several environment variables (one step each).

        Args:
            vars: the names and values.
        """
        for key, value in vars.items():
            self.set_env(key, value)
        return self

    def set_workdir(self, directory: str) -> Self:
        """Set the working directory of later steps and of the start command.

        Args:
            directory: the directory (relative: to the current one).
        """
        self.steps.append(Step(type=StepType.WORKDIR, args=[directory]))
        return self

    def set_user(self, user: str) -> Self:
        """Set the user later steps run as.

        Args:
            user: the user's name.
        """
        self.steps.append(Step(type=StepType.USER, args=[user]))
        return self

    def apt_install(self, *packages: str | list[str]) -> Self:
        """Install system packages with apt.

        Args:
            packages: package names, or lists of them.

        Raises:
            ValueError: no package was given.
        """
        names = _flatten(packages)
        if not names:
            raise ValueError("apt_install requires at least one package")
        return self.run_cmd(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y "
            + " ".join(names)
        )

    def pip_install(self, *packages: str | list[str] | None) -> Self:
        """Install Python packages with pip; with no argument, ``requirements.txt``.

        Args:
            packages: package specifiers, or lists of them (``None`` values are skipped).

        Raises:
            ValueError: only ``None`` values were given.
        """
        if not packages:
            return self.run_cmd("/usr/local/bin/pip3 install --no-cache-dir -r requirements.txt")
        names = _flatten(packages)
        if not names:
            raise ValueError(
                "pip_install requires at least one package or no args for requirements.txt"
            )
        return self.run_cmd("/usr/local/bin/pip3 install --no-cache-dir " + " ".join(names))

    def npm_install(self, *packages: str | list[str] | None) -> Self:
        """Install Node packages globally with npm; with no argument, ``package.json``.

        Args:
            packages: package names, or lists of them (``None`` values are skipped).

        Raises:
            ValueError: only ``None`` values were given.
        """
        if not packages:
            return self.run_cmd("/usr/local/bin/npm install")
        names = _flatten(packages)
        if not names:
            raise ValueError(
                "npm_install requires at least one package or no args for package.json"
            )
        return self.run_cmd("/usr/local/bin/npm install -g " + " ".join(names))

    def go_install(self, packages: list[str]) -> Self:
        """``go install`` each package (one step each).

        Args:
            packages: the package paths.
        """
        for package in packages:
            self.run_cmd(f"go install {package}")
        return self

    def cargo_install(self, packages: list[str]) -> Self:
        """``cargo install`` each package (one step each).

        Args:
            packages: the crate names.
        """
        for package in packages:
            self.run_cmd(f"cargo install {package}")
        return self

    def git_clone(self, url: str, dest: str) -> Self:
        """Clone a git repository.

        Args:
            url: the repository's URL.
            dest: where to clone it.
        """
        return self.run_cmd(f"git clone {url} {dest}")

    def skip_cache(self) -> Self:
        """Rebuild the last step even when a cached result exists."""
        if self.steps:
            self.steps[-1].skip_cache = True
        return self

    # -- metadata, start command, accessors ----------------------------------------------

    def add_metadata(self, key: str, value: str) -> Self:
        """Set build metadata (``agent_version`` is sent with the build).

        Args:
            key: the metadata key.
            value: its value.
        """
        self._metadata[key] = value
        return self

    def get_metadata(self) -> dict[str, str]:
        """The build metadata."""
        return self._metadata

    def set_start_cmd(self, cmd: str, ready: ReadyCheck | None = None) -> Self:
        """The command every sandbox of the template starts with, and when it is ready.

        Args:
            cmd: the shell command.
            ready: the ready check (``wait_for_port(8000)``, ...); none when ``None``.
        """
        self.start_cmd = cmd
        self.ready_check = ready
        return self

    def get_from_image(self) -> str | None:
        """The base image."""
        return self.from_image

    def get_registry_auth(self) -> RegistryAuth | None:
        """The private registry's credentials."""
        return self.registry_auth

    def get_steps(self) -> list[Step]:
        """The steps, in order."""
        return self.steps

    def get_start_cmd(self) -> str | None:
        """The start command."""
        return self.start_cmd

    def get_ready_check(self) -> ReadyCheck | None:
        """The start command's ready check."""
        return self.ready_check


# ---------------------------------------------------------------------------------------------
# Wire form


_SETUP_ONLY = (StepType.ENV, StepType.WORKDIR, StepType.USER)


def validate_template(template: Template) -> None:
    """Refuse a template the service would refuse, before anything is uploaded.

    Raises:
        ValueError: no base image, or no step besides ``ENV``/``WORKDIR``/``USER`` (the
            official client's checks and error type).
    """
    if not template.get_from_image():
        raise ValueError(
            "Template must specify a base image, e.g. Template(from_image='python:3.11') or "
            ".from_python_image('3.11')"
        )
    if all(step.type in _SETUP_ONLY for step in template.get_steps()):
        raise ValueError(
            "Template must have at least one build step besides ENV/WORKDIR/USER "
            "(run_cmd, apt_install, pip_install, npm_install or copy)"
        )


def copy_sources(step: Step) -> tuple[list[str], str]:
    """The local sources and the destination of a ``COPY`` step.

    Raises:
        LocalProtocolError: the step is not a ``COPY`` of two arguments.
    """
    if step.type is not StepType.COPY or len(step.args) != 2:
        raise LocalProtocolError(f"not a COPY step of (sources, destination): {step!r}")
    return step.args[0].split(","), step.args[1]


def step_to_wire(step: Step) -> dict[str, Any]:
    """A step as the build request carries it: ``{"type", "args"[, "filesHash"][,
    "skipCache"]}``.

    Raises:
        LocalProtocolError: a ``COPY`` step has no ``files_hash`` yet, or the arguments are
            not strings.
    """
    if not all(isinstance(arg, str) for arg in step.args):
        raise LocalProtocolError(f"step arguments must be strings: {step.args!r}")
    kind = StepType(step.type)
    out: dict[str, Any] = {"type": kind.value, "args": list(step.args)}
    if step.files_hash:
        out["filesHash"] = step.files_hash
    elif kind is StepType.COPY:
        raise LocalProtocolError("a COPY step needs the files_hash of its sources")
    if step.skip_cache:
        out["skipCache"] = True
    return out


def ready_check_to_wire(check: ReadyCheck) -> dict[str, Any]:
    """A ready check as ``readyCmd``: type, timeout and interval, then the set fields."""
    out: dict[str, Any] = {
        "type": ReadyCheckType(check.type).value,
        "timeout": check.timeout,
        "interval": check.interval,
    }
    for attr, key in (
        ("port", "port"),
        ("url", "url"),
        ("path", "path"),
        ("process_name", "processName"),
        ("command", "command"),
    ):
        value = getattr(check, attr)
        if value:
            out[key] = value
    return out


def build_request(template: Template, steps: list[Step], options: BuildOptions) -> BuildTemplate:
    """The ``POST /v1/templates/build`` arguments of ``template`` with hashed ``steps``.

    Args:
        template: the template (base image, start command, metadata, credentials).
        steps: its steps, each ``COPY`` carrying its ``files_hash``.
        options: the build options (name, resources, cache, update).

    Raises:
        LocalProtocolError: an argument the build request cannot carry.
    """
    from_image = template.get_from_image()
    if not from_image:
        raise LocalProtocolError("the template has no base image")
    ready = template.get_ready_check()
    auth = template.get_registry_auth()
    return BuildTemplate(
        name=options.name,
        from_image=from_image,
        cpu=options.cpu,
        memory=options.memory,
        disk_gb=options.disk_gb,
        steps=[step_to_wire(step) for step in steps],
        start_cmd=template.get_start_cmd(),
        ready_cmd=ready_check_to_wire(ready) if ready is not None else None,
        skip_cache=options.skip_cache,
        update=options.update,
        registry_credentials=(
            RegistryCredentials(type="basic", username=auth.username, password=auth.password)
            if auth is not None
            else None
        ),
        agent_version=template.get_metadata().get("agent_version"),
    )
