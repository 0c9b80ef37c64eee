"""Resource limits applied to every process a sandbox starts."""

from __future__ import annotations

import attrs

from hopx_proto._checks import positive

__all__ = ["Limits"]


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
        """The ``resource.RLIMIT_*`` names and values the sandbox launcher applies.

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
