"""A plain install works: ``pip install`` of the built wheel into a new virtual environment,
outside the checkout, gives working ``hopx`` and ``hopx-local`` commands, runs the README's
first program against ``hopx-local serve``, and names the extra a missing dependency needs.

The wheel's metadata names the project's URLs, and its long description (the README) reads
on a package index: every link absolute, and installing is ``pip install``, not ``make``.
"""

from __future__ import annotations

import email
import email.message
import os
import pathlib
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator

import pytest
from e2e.emulator_process import emulator_process

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
PYTHON_BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)
TIMEOUT = 300


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        timeout=TIMEOUT,
    )
    (built,) = out.glob("hopx_sansio-*.whl")
    return built


@pytest.fixture(scope="module")
def metadata(wheel: pathlib.Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(archive.read(name))


@pytest.fixture(scope="module")
def venv(wheel: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A new virtual environment, outside the checkout, with only the wheel installed."""
    where = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=TIMEOUT)
    subprocess.run(
        [str(where / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
        check=True,
        timeout=TIMEOUT,
    )
    return where


def _run(
    venv: pathlib.Path, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=venv.parent,  # not the checkout: nothing imports from the source tree
        env={**os.environ, **(env or {}), "PYTHONPATH": ""},
    )


def test_the_metadata_names_the_project_urls(metadata: email.message.Message) -> None:
    urls = dict(
        (label.strip(), url.strip())
        for label, url in (entry.split(",", 1) for entry in metadata.get_all("Project-URL", []))
    )
    assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())


def test_the_base_install_carries_what_the_common_path_needs(
    metadata: email.message.Message,
) -> None:
    requires = metadata.get_all("Requires-Dist", [])
    base = {re.split(r"[<>=;\s\[]", r, maxsplit=1)[0] for r in requires if "extra ==" not in r}
    assert base == {"h11", "attrs", "anyio"}
    assert any(re.fullmatch(r"trio\S*; extra == ['\"]trio['\"]", r) for r in requires), requires
    # Install lines written for earlier releases still resolve.
    assert {"trio", "asyncio", "local"} <= set(metadata.get_all("Provides-Extra", []))


def test_the_readme_reads_on_a_package_index(metadata: email.message.Message) -> None:
    readme = metadata.get_payload()
    assert isinstance(readme, str)
    assert metadata["Description-Content-Type"] == "text/markdown"
    for match in LINK.finditer(readme):
        assert match["target"].startswith("https://"), match["target"]
    install = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert "pip install hopx-sansio" in install
    assert "make" not in install
    # The checks rely on the two commands for a fresh clone being there too.
    assert "$ make demo" in readme
    assert "$ make test" in readme


def test_the_commands_work_after_a_plain_install(venv: pathlib.Path) -> None:
    served = _run(venv, "hopx-local", "serve", "--help")
    assert served.returncode == 0, served.stderr
    assert "(default: 8787)" in served.stdout
    version = _run(venv, "hopx", "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("hopx ")
    imported = _run(venv, "python", "-c", "import hopx_asyncio, hopx_local, hopx_proto")
    assert imported.returncode == 0, imported.stderr


def test_a_missing_extra_is_named(venv: pathlib.Path) -> None:
    trio = _run(venv, "python", "-c", "import hopx_trio")
    assert trio.returncode == 1
    assert "pip install 'hopx-sansio[trio]'" in trio.stderr


@pytest.fixture
def served(venv: pathlib.Path) -> Iterator[dict[str, str]]:
    """``hopx-local serve`` of the fresh install; the variables it prints."""
    environ = {**os.environ, "PYTHONPATH": "", "HOPX_API_KEY": ""}
    with emulator_process(command=[str(venv / "bin" / "hopx-local")], env=environ) as server:
        yield server.env


def test_the_readme_program_runs_against_hopx_local(
    venv: pathlib.Path, served: dict[str, str], tmp_path: pathlib.Path
) -> None:
    readme = (ROOT / "README.md").read_text()
    program = tmp_path / "first.py"
    program.write_text(PYTHON_BLOCK.search(readme)["code"])  # type: ignore[index]
    ran = _run(venv, "python", str(program), env=served)
    assert ran.returncode == 0, ran.stderr
    assert "'type': 'stdout'" in ran.stdout
    assert "Hello" in ran.stdout
    assert "'exit_code': 0" in ran.stdout
