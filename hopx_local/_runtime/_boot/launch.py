"""Sandbox launcher: apply resource limits, drop to the sandbox user, then exec the command.

Run as ``python -I -S launch.py SPEC_JSON COMMAND...`` inside the sandbox. SPEC_JSON holds
``rlimits`` ({"RLIMIT_CPU": n, ...}), ``uid``/``gid`` (or null), ``ctty`` (make stdin the
controlling terminal of a new session) and ``cwd``. The environment is passed through as is.
"""

from __future__ import annotations

import json
import os
import resource
import sys

_CPU_GRACE_SECONDS = 5


def _apply_rlimits(rlimits: dict[str, int]) -> None:
    for name, value in rlimits.items():
        which = getattr(resource, name, None)
        if which is None:
            continue
        _soft, hard = resource.getrlimit(which)
        ceiling = value + _CPU_GRACE_SECONDS if name == "RLIMIT_CPU" else value
        if hard != resource.RLIM_INFINITY:
            ceiling = min(ceiling, hard)
        resource.setrlimit(which, (min(value, ceiling), ceiling))


def _take_terminal() -> None:
    import fcntl
    import termios

    try:
        os.setsid()
    except OSError:
        pass
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def main(argv: list[str]) -> int:
    """Prepare the process as SPEC_JSON says and replace it with the command."""
    if len(argv) < 3:
        sys.stderr.write("usage: launch.py SPEC_JSON COMMAND...\n")
        return 2
    spec = json.loads(argv[1])
    command = argv[2:]
    if spec.get("ctty"):
        _take_terminal()
    _apply_rlimits(spec.get("rlimits", {}))
    gid, uid = spec.get("gid"), spec.get("uid")
    if gid is not None:
        os.setgroups([])
        os.setgid(gid)
    if uid is not None:
        os.setuid(uid)
    if spec.get("cwd"):
        os.chdir(spec["cwd"])
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        sys.stderr.write(f"cannot execute {command[0]}: {exc.strerror}\n")
        return 126 if isinstance(exc, PermissionError) else 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))
