"""Resource limits: per process (setrlimit) and for a sandbox as a whole."""

from __future__ import annotations

from typing import Any

import attrs

from hopx_proto.wire import positive

__all__ = ["Limits", "SandboxResources"]


@attrs.frozen
class Limits:
    """Per-process resource limits (setrlimit) for sandboxed code.

    ``cpu_seconds`` caps CPU time of each process (SIGXCPU, then SIGKILL), ``memory_bytes`` its
    address space, ``max_processes`` the number of processes the sandbox's user may own at
    once, ``file_size_bytes`` the largest file a process may write and ``open_files`` its file
    descriptors.
    """

    cpu_seconds: int = attrs.field(default=600, validator=positive)
    memory_bytes: int = attrs.field(default=4 << 30, validator=positive)
    max_processes: int = attrs.field(default=256, validator=positive)
    file_size_bytes: int = attrs.field(default=1 << 30, validator=positive)
    open_files: int = attrs.field(default=1024, validator=positive)

    def rlimits(self, *, nproc_base: int = 0) -> dict[str, int]:
        """The ``resource.RLIMIT_*`` names and values applied to each sandboxed process.

        ``nproc_base`` is added to the process cap when the sandbox cannot have a user id of
        its own and so shares its process count with other processes of the same user.
        """
        return {
            "RLIMIT_CPU": self.cpu_seconds,
            "RLIMIT_AS": self.memory_bytes,
            "RLIMIT_NPROC": self.max_processes + nproc_base,
            "RLIMIT_FSIZE": self.file_size_bytes,
            "RLIMIT_NOFILE": self.open_files,
            "RLIMIT_CORE": 0,
        }


def _optional_positive(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise TypeError(f"{attribute.name} must be a number or None")
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be positive")


@attrs.frozen
class SandboxResources:
    """What one sandbox may use as a whole (``None``: no limit).

    ``vcpu`` is CPUs' worth of time (a CFS quota, so 0.5 is half a CPU), ``memory_mb`` the
    memory of all its processes together, ``disk_mb`` the size of its writable tree
    (``/workspace``, ``/tmp``, execution files and logs). Each is enforced where the host
    allows it (cgroups, a loop-mounted volume), see the runtime's ``enforcement``.
    """

    vcpu: float | None = attrs.field(default=None, validator=_optional_positive)
    memory_mb: int | None = attrs.field(default=None, validator=_optional_positive)
    disk_mb: int | None = attrs.field(default=None, validator=_optional_positive)
