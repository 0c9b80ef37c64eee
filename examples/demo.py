"""The main job: start the local emulator, run a short sandbox session through the client.

Run with ``make demo`` (or ``python examples/demo.py [--loop asyncio|trio]``). No account and
no network are needed: ``hopx_local.serve()`` runs the service on loopback, in this process,
and the client talks to it over real sockets exactly as it would talk to the cloud.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import anyio

import hopx_local

CODE = """\
import platform, time
for i in range(3):
    print(f"tick {i} from {platform.python_implementation()}", flush=True)
    time.sleep(0.2)
"""

# A figure left open at the end of a cell comes back as a PNG (the kernel's inline backend).
FIGURE = """\
try:
    import matplotlib.pyplot as plt
    plt.plot([1, 4, 9, 16])
except ImportError:
    display({"text/html": "<b>matplotlib is not installed here</b>"}, raw=True)
"""


def say(step: str, detail: Any = "") -> None:
    print(f"  {step:<28} {detail}".rstrip(), flush=True)


async def session(AsyncSandbox: Any, base_url: str, api_key: str) -> None:
    sandbox = await AsyncSandbox.create(
        template="code-interpreter", timeout_seconds=300, api_key=api_key, base_url=base_url
    )
    try:
        info = await sandbox.get_info()
        say("created sandbox", f"{info.sandbox_id} ({info.status}) agent at {info.public_host}")

        say("streaming code output:")
        pending = ""
        async for message in sandbox.run_code_stream(CODE):
            if message.get("type") in ("stdout", "stderr"):
                # Chunks arrive as the process writes them; show whole lines as they complete.
                pending += message["data"]
                *lines, pending = pending.split("\n")
                for line in lines:
                    print(f"    {message['type']}> {line}", flush=True)
            elif message.get("type") == "result":
                say("  exit code", message["exit_code"])

        await sandbox.files.write("/workspace/hello.txt", "written by the demo\n")
        text = await sandbox.files.read("/workspace/hello.txt")
        say("file written and read back", repr(text))
        listing = await sandbox.files.list("/workspace")
        say("files in /workspace", ", ".join(f.name for f in listing))

        result = await sandbox.commands.run("echo $((6 * 7)) from $(basename $SHELL)")
        say("command", f"{result.stdout.strip()!r} (exit {result.exit_code})")

        await sandbox.env.set("GREETING", "hello from env")
        out = await sandbox.run_code("import os; print(os.environ['GREETING'])")
        say("env var seen by code", repr(out.stdout.strip()))

        # Python runs in the sandbox's Jupyter kernel: variables live on between runs and a
        # last expression is the result, as in the service's code-interpreter.
        await sandbox.run_code("total = sum(range(10))")
        kept = await sandbox.run_code("total * 2")
        if kept.result is not None:
            say("state kept between runs", f"total * 2 = {kept.result}")
        else:
            say("state not kept", "(no Jupyter kernel: pip install 'hopx-sansio[kernel]')")
        figure = await sandbox.run_code(FIGURE, timeout_seconds=120)
        for shown in figure.displays:
            source = shown.metadata.get("source", "other")
            say("rich output", f"{shown.type} from {source}, {len(str(shown.payload))} chars")
    finally:
        await sandbox.kill()
        say("killed sandbox", sandbox.sandbox_id)


async def main(loop: str) -> None:
    if loop == "trio":
        from hopx_trio import AsyncSandbox
    else:
        from hopx_asyncio import AsyncSandbox
    async with hopx_local.serve() as local:
        print(f"hopx-local emulator at {local.base_url} (isolation: {local.isolation})")
        if local.warning:
            print(f"  warning: {local.warning}")
        await session(AsyncSandbox, local.base_url, local.api_key)
    print("done")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", choices=("asyncio", "trio"), default="asyncio")
    args = parser.parse_args()
    anyio.run(main, args.loop, backend=args.loop)
    sys.exit(0)
