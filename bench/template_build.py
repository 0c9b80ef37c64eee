"""Template build times against hopx-local: a first build, a rebuild from the layer cache,
and the same rebuild with ``skip_cache`` (every step run again), for our client and the
official one side by side.

    .venv/bin/python bench/template_build.py [rounds]

Prints the median and the spread of each, in seconds: as the client sees it (upload, polling,
the activation wait) and as the server ran it (steps and ready check). The chain: ``COPY`` of
a small context (200 files), a ``RUN`` that reads it, a start command with a file ready
check. Layers are keyed by content, not by template name: only the first round's "first"
build runs its steps; the later ones reuse its layers.
"""

from __future__ import annotations

import importlib
import pathlib
import statistics
import sys
import tempfile
import time
from typing import Any

import anyio

import hopx_asyncio
import hopx_local
from hopx_local._templates.images import host_images

PY = next((n.split(":", 1)[1] for n in host_images() if n.startswith("python:")), "3")


def _context(root: pathlib.Path) -> pathlib.Path:
    for i in range(200):
        path = root / "app" / f"d{i % 10}" / f"f{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {i}\n" * 50)
    return root


def _chain(api: Any) -> Any:
    return (
        api.Template(f"python:{PY}")
        .copy("app/", "/app")
        .run_cmd("cat /app/d*/f*.txt | wc -l > /app/lines")
        .set_start_cmd("touch /app/up && sleep 60", api.wait_for_file("/app/up", interval=200))
    )


async def _time(build: Any, *args: Any) -> float:
    start = time.perf_counter()
    await build(*args)
    return time.perf_counter() - start


def _server_ms(local: hopx_local.LocalServer, name: str) -> float:
    """How long the server's last build of ``name`` ran (steps and ready check only)."""
    builds = [b for b in local.fleet.builds.builds.values() if b.name == name]
    return float(builds[-1].duration_ms or 0)


async def main(rounds: int) -> None:
    try:
        official: Any = importlib.import_module("hopx_ai.template")
    except ImportError:
        official = None
    with tempfile.TemporaryDirectory() as tmp:
        context = _context(pathlib.Path(tmp))
        async with hopx_local.serve() as local:
            rows: dict[str, list[float]] = {}
            for label, api in (("hopx_asyncio", hopx_asyncio), ("hopx-ai", official)):
                if api is None:
                    continue
                for round_ in range(rounds):
                    name = f"bench-{label.replace('_', '-')}-{round_}"

                    def options(api: Any = api, name: str = name, **kw: Any) -> Any:
                        return api.BuildOptions(
                            name=name,
                            api_key=local.api_key,
                            base_url=local.base_url,
                            context_path=str(context),
                            template_activation_timeout=120,
                            **kw,
                        )

                    plans: tuple[tuple[str, dict[str, Any]], ...] = (
                        ("first", {}),
                        ("cached", {"update": True}),
                        ("skip_cache", {"update": True, "skip_cache": True}),
                    )
                    for key, extra in plans:
                        took = await _time(api.Template.build, _chain(api), options(**extra))
                        server = _server_ms(local, name) / 1000
                        rows.setdefault(f"{label:13} {key:10} client", []).append(took)
                        rows.setdefault(f"{label:13} {key:10} server", []).append(server)
    for key, values in rows.items():
        print(
            f"{key}  median {statistics.median(values):6.2f} s  "
            f"(min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
        )


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 3)
