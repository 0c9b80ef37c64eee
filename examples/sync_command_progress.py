"""A live progress bar driven by a streamed command, in a synchronous program.

The same job and bar as ``command_progress.py`` (which is asyncio), with
``sandbox.commands.stream()`` read by a plain ``for`` loop. Leaving the ``with`` block around
the stream (an exception, Ctrl-C) closes its WebSocket, which stops the command.

    python examples/sync_command_progress.py [--steps 20]
    hopx-local run -- python examples/sync_command_progress.py
"""

from __future__ import annotations

import argparse
import sys
import time

from _local import blocking_service
from command_progress import JOB, STEP, LineSplitter, ProgressBar

from hopx_proto.streams import ErrorMessage, Result, Stderr, Stdout
from hopx_sync import Sandbox


def run_with_progress(sandbox: Sandbox, steps: int, pause: float) -> int:
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

    with sandbox.commands.stream(JOB.format(steps=steps, pause=pause), timeout=60) as events:
        for event in events:
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


def main(steps: int, pause: float) -> int:
    with blocking_service() as svc:
        with Sandbox.create(
            template="code-interpreter", api_key=svc.api_key, base_url=svc.base_url
        ) as sandbox:
            print(f"created sandbox {sandbox.sandbox_id}; streaming a {steps}-step job")
            code = run_with_progress(sandbox, steps, pause)
        print(f"killed sandbox {sandbox.sandbox_id}")
    return code


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="how many steps the job has")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between steps")
    args = parser.parse_args()
    if args.steps < 1 or args.pause < 0:
        parser.error("--steps must be at least 1 and --pause not negative")
    sys.exit(main(args.steps, args.pause))
