"""A synchronous script: create a sandbox, run code, use files and a command, kill it.

The import is all that changes from a script written for ``hopx_ai.Sandbox``:
``from hopx_sync import Sandbox``. ``with`` kills the sandbox at the end, error or not.

    python examples/sync_script.py
    hopx-local run -- python examples/sync_script.py
"""

from __future__ import annotations

from _local import blocking_service

from hopx_sync import Sandbox


def main() -> None:
    with blocking_service() as svc:
        with Sandbox.create(
            template="code-interpreter", api_key=svc.api_key, base_url=svc.base_url
        ) as sandbox:
            result = sandbox.run_code("print('Hello from a script!')")
            print(result.stdout, end="")
            sandbox.files.write("/workspace/numbers.txt", "\n".join(map(str, range(1, 11))))
            total = sandbox.commands.run("paste -sd+ /workspace/numbers.txt | bc")
            print(f"sum computed in the sandbox: {total.stdout.strip()}")
            sandbox_id = sandbox.sandbox_id
        print(f"killed sandbox {sandbox_id}")


if __name__ == "__main__":
    main()
