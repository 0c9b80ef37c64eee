"""An interactive terminal in a sandbox, driven by a program (asyncio).

Opens a PTY shell with ``sandbox.terminal.connect()`` (a :class:`TerminalSession`, used as
``async with``), types commands into it, resizes it, and reads its output until a marker shows
that each command finished, the way an automation script drives a remote shell. The marker is
printed by an arithmetic expansion (``$((40 + 2))``), so the echo of the typed line itself never
matches it. Finally ``exit 3`` ends the shell and the ``exit`` event reports the code.

    python examples/terminal_session.py
    hopx-local run -- python examples/terminal_session.py
"""

from __future__ import annotations

import asyncio
import re
import sys

from _local import service

from hopx_asyncio import AsyncSandbox, TerminalSession
from hopx_proto.streams import Exit, Output

#: Control sequences of a terminal (colours, cursor moves, bracketed paste, titles).
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*(\x07|\x1b\\)|\x1b[=>]|\r")
READ_TIMEOUT = 15.0
EXIT_CODE = 3


class Shell:
    """Runs lines in a terminal and collects their output, marker-delimited.

    One output iterator serves every read; ``async with`` closes it at the end.
    """

    def __init__(self, terminal: TerminalSession) -> None:
        self.terminal = terminal
        self.events = terminal.iter_output()
        self.exit_code: int | None = None
        self._serial = 0

    async def __aenter__(self) -> Shell:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.events.aclose()

    async def read_until(self, marker: str) -> str:
        """Output up to and including ``marker`` (ANSI sequences removed)."""
        seen = ""
        async with asyncio.timeout(READ_TIMEOUT):
            async for event in self.events:
                if isinstance(event, Output):
                    seen += event.data
                    if marker in ANSI.sub("", seen):
                        return ANSI.sub("", seen)
                elif isinstance(event, Exit):
                    self.exit_code = event.code
                    break
        raise RuntimeError(f"the shell ended before printing {marker!r}: {seen!r}")

    async def run(self, line: str) -> tuple[str, int]:
        """Type ``line``, wait until it finished; what it printed and its exit status."""
        self._serial += 1
        tag = f"done-{self._serial}"
        # The typed text reads "$((40 + 2))"; only the shell's output says "42".
        await self.terminal.send_input(f"{line}; echo {tag}-$((40 + 2))-$?\n")
        output = await self.read_until(f"{tag}-42-")
        found = re.search(rf"{tag}-42-(\d+)", output + await self._rest_of_line(output))
        status = int(found[1]) if found else -1
        body = [
            text
            for text in output.split("\n")
            if text.strip() and tag not in text and not text.rstrip().endswith("$")
        ]
        return "\n".join(body), status

    async def _rest_of_line(self, output: str) -> str:
        """The marker's line may arrive in pieces: read on until it ends."""
        tail = output[output.rindex("-42-") :]
        extra = ""
        while "\n" not in tail + extra:
            extra += await self.read_until("\n")
        return extra

    async def wait_exit(self) -> int:
        """Read until the shell's ``exit`` event; its exit code."""
        async with asyncio.timeout(READ_TIMEOUT):
            async for event in self.events:
                if isinstance(event, Exit):
                    self.exit_code = event.code
                    break
        if self.exit_code is None:
            raise RuntimeError("the terminal closed without an exit code")
        return self.exit_code


async def session(sandbox: AsyncSandbox) -> int:
    async with await sandbox.terminal.connect() as terminal, Shell(terminal) as shell:
        print("terminal open; quieting the prompt and the echo")
        await shell.run("export PS1='$ ' PS2=''; stty -echo")

        for line in (
            'mkdir -p project && cd project && basename "$PWD"',
            "echo hello > greeting.txt && cat greeting.txt",
            "for i in 1 2 3; do echo line $i; done | tac",
            "ls /no/such/dir",
        ):
            output, status = await shell.run(line)
            print(f"$ {line}    # exit status {status}")
            print(_indent(output))

        await terminal.resize(cols=120, rows=40)
        size, _ = await shell.run("stty size")
        print(f"resized to 120x40; stty size says: {size.strip()}")
        if size.split() != ["40", "120"]:
            print("the terminal did not take the new size")
            return 1

        print(f"$ exit {EXIT_CODE}")
        await terminal.send_input(f"exit {EXIT_CODE}\n")
        code = await shell.wait_exit()
        print(f"the shell exited with code {code}")
    print(f"terminal closed: {terminal.closed}")
    return 0 if code == EXIT_CODE else 1


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


async def main() -> int:
    async with service() as svc:
        async with AsyncSandbox.create(
            template="code-interpreter", api_key=svc.api_key, base_url=svc.base_url
        ) as sandbox:
            print(f"created sandbox {sandbox.sandbox_id}")
            status = await session(sandbox)
        print(f"killed sandbox {sandbox.sandbox_id}")
    return status


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
