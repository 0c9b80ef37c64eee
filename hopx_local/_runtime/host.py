"""What this host lets the runtime enforce, found once at start-up and said in plain words.

Shown by ``hopx-local serve``'s banner, in each agent's ``/info`` (``enforcement``), and in the
warnings of every sandbox that lacks something.
"""

from __future__ import annotations

import functools
import os

import attrs

from .cgroups import cgroup_host
from .isolation import IsolationMode
from .seccomp import filter_program
from .volume import volumes_supported

__all__ = ["Enforcement", "host_enforcement"]


@attrs.frozen
class Enforcement:
    """Which protections a sandbox gets on this host (``True``: enforced).

    ``memory``, ``vcpu`` and ``processes`` are limits for the sandbox as a whole (cgroups),
    ``freeze`` an atomic pause, ``disk`` a size limit on the writable tree (its own volume),
    ``seccomp`` the system call filter, ``no_new_userns`` that code cannot create user
    namespaces, ``own_user`` that code runs as a host user of its own. ``cgroups`` names the
    hierarchy used (``"v1"``, ``"v2"`` or ``None``).
    """

    isolation: str
    cgroups: str | None
    memory: bool
    vcpu: bool
    processes: bool
    freeze: bool
    disk: bool
    seccomp: bool
    no_new_userns: bool
    own_user: bool

    def to_wire(self) -> dict[str, object]:
        """The facts as a JSON object."""
        return attrs.asdict(self)

    def missing(self) -> dict[str, str]:
        """For each protection not given here: its name -> one sentence saying so."""
        reasons = {
            "memory": "memory_mb is not enforced for the sandbox as a whole (no memory cgroup)",
            "vcpu": "vcpu is not enforced (no cpu cgroup): one sandbox can use every CPU",
            "processes": "the process limit is per process owner (RLIMIT_NPROC), not a cgroup",
            "freeze": "pause stops processes with SIGSTOP, not with a cgroup freezer",
            "disk": "disk_mb is not enforced (no loop-mounted volume): a sandbox can fill "
            "the disk of the state directory",
            "seccomp": "no seccomp filter (libseccomp not found)",
            "no_new_userns": "sandboxed code may create user namespaces",
            "own_user": "sandboxed code runs as the server's own user id",
        }
        return {name: reason for name, reason in reasons.items() if not getattr(self, name)}

    def summary(self) -> str:
        """One line for the serve banner."""
        enforced = [
            name for name in ("memory", "vcpu", "processes", "freeze") if getattr(self, name)
        ]
        parts = []
        if enforced:
            parts.append(f"{', '.join(enforced)} (cgroup {self.cgroups})")
        for name, label in (
            ("disk", "disk_mb (ext4 volume)"),
            ("seccomp", "seccomp filter"),
            ("no_new_userns", "no new user namespaces"),
            ("own_user", "a user id per sandbox"),
        ):
            if getattr(self, name):
                parts.append(label)
        return "enforced: " + ("; ".join(parts) if parts else "nothing beyond per-process limits")


@functools.cache
def host_enforcement(mode: IsolationMode) -> Enforcement:
    """What sandboxes get on this host in isolation ``mode``."""
    isolated = mode is IsolationMode.BWRAP
    cgroups = cgroup_host()
    controllers = cgroups.controllers if cgroups else frozenset()
    return Enforcement(
        isolation=mode.value,
        cgroups=cgroups.version if cgroups else None,
        memory="memory" in controllers,
        vcpu="cpu" in controllers,
        processes="pids" in controllers,
        freeze="freezer" in controllers,
        disk=volumes_supported(),
        seccomp=isolated and filter_program() is not None,
        no_new_userns=isolated,
        own_user=os.geteuid() == 0,
    )
