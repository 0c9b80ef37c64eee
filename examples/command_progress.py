"""A live progress bar driven by a sandboxed command's streamed output (asyncio).

The command is a small batch job: it hashes a few blocks of random data and reports
``step i/N`` after each. ``sandbox.commands.stream()`` delivers its output while it runs; each
``step`` line moves a bar redrawn in place with ``\\r``; other lines are printed above the bar.
The program exits with the command's exit code.

    python examples/command_progress.py [--steps 20]
    hopx-local run -- python examples/command_progress.py
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from typing import TextIO

from _local import service

from hopx_asyncio import AsyncSandbox
from hopx_proto.streams import ErrorMessage, Result, Stderr, Stdout

STEP = re.compile(r"^step (\d+)/(\d+)\b(.*)$")
BAR_WIDTH = 30

JOB = r"""
set -eu
total={steps}
echo "hashing $total blocks of 256 KiB"
for i in $(seq 1 "$total"); do
    digest=$(head -c 262144 /dev/urandom | sha256sum | cut -c1-12)
    echo "step $i/$total block $digest"
    sleep {pause}
done
echo "all blocks hashed" >&2
"""


class ProgressBar:
    """One line of terminal, redrawn in place; other output scrolls above it.

    When the output is not a terminal (a pipe, a log file) every update is a line of its own.
    """

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out if out is not None else sys.stdout
        self._live = self._out.isatty()
        self._drawn = False
        self._last = ""

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()

    def draw(self, done: int, total: int, label: str) -> None:
        """Redraw the bar at ``done`` of ``total``."""
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        percent = 100 * done // total if total else 100
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:>3}/{total} {percent:>3}%"
        line = f"{line} {label}".rstrip()
        if not self._live:
            self._write(line + "\n")
            return
        padding = " " * max(0, len(self._last) - len(line))
        self._write(f"\r{line}{padding}")
        self._drawn, self._last = True, line

    def above(self, text: str) -> None:
        """Print a line above the bar (the bar is drawn again by the next ``draw``)."""
        if self._drawn:
            self._write("\r" + " " * len(self._last) + "\r")
        self._write(text + "\n")
        if self._drawn:
            self._write(self._last)

    def finish(self) -> None:
        """Leave the bar as it is and move to the next line."""
        if self._drawn:
            self._write("\n")
            self._drawn = False


class LineSplitter:
    """Whole lines out of output chunks, which may end in the middle of a line."""

    def __init__(self) -> None:
        self._partial = ""

    def feed(self, chunk: str) -> list[str]:
        """The lines completed by ``chunk``."""
        *lines, self._partial = (self._partial + chunk).split("\n")
        return lines

    def rest(self) -> list[str]:
        """The unterminated last line, if any."""
        rest, self._partial = self._partial, ""
        return [rest] if rest else []


async def run_with_progress(sandbox: AsyncSandbox, steps: int, pause: float) -> int:
    """Stream the job, drive the bar from its ``step`` lines; the job's exit code."""
    bar = ProgressBar()
    stdout, stderr = LineSplitter(), LineSplitter()
    exit_code: int | None = None
    seen_steps = 0
    started = time.monotonic()

    def show(line: str) -> None:
        nonlocal seen_steps
        match = STEP.match(line)
        if match is None:
            bar.above(f"  out: {line}")
            return
        seen_steps += 1
        bar.draw(int(match[1]), int(match[2]), match[3].strip())

    command = JOB.format(steps=steps, pause=pause)
    async with sandbox.commands.stream(command, timeout_seconds=60) as events:
        async for event in events:
            if isinstance(event, Stdout):
                for line in stdout.feed(event.data):
                    show(line)
            elif isinstance(event, Stderr):
                for line in stderr.feed(event.data):
                    bar.above(f"  err: {line}")
            elif isinstance(event, Result):
                exit_code = event.exit_code
            elif isinstance(event, ErrorMessage):
                bar.above(f"  the agent could not run the command: {event.error}")
    for line in stdout.rest():
        show(line)
    for line in stderr.rest():
        bar.above(f"  err: {line}")
    bar.finish()
    elapsed = time.monotonic() - started
    print(f"command finished: exit code {exit_code}, {seen_steps} steps seen in {elapsed:.1f} s")
    if seen_steps != steps:
        print(f"expected {steps} step lines, saw {seen_steps}")
        return 1
    return 1 if exit_code is None else exit_code


async def main(steps: int, pause: float) -> int:
    async with service() as svc:
        async with AsyncSandbox.create(
            template="code-interpreter", api_key=svc.api_key, base_url=svc.base_url
        ) as sandbox:
            print(f"created sandbox {sandbox.sandbox_id}; streaming a {steps}-step job")
            code = await run_with_progress(sandbox, steps, pause)
        print(f"killed sandbox {sandbox.sandbox_id}")
    return code


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="how many steps the job has")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between steps")
    args = parser.parse_args()
    if args.steps < 1 or args.pause < 0:
        parser.error("--steps must be at least 1 and --pause not negative")
    sys.exit(asyncio.run(main(args.steps, args.pause)))
