"""The built documentation site in a real browser (headless Chromium).

- served over HTTP, its search finds pages;
- opened from disk, where search cannot work, each page says so and how to serve the site;
- on the home and getting-started pages, no code block runs off its edge (a comment cut off
  at the right is what a reader would otherwise see).
"""

from __future__ import annotations

import functools
import http.server
import os
import pathlib
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from browser import Page, chromium, chromium_path

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _missing(what: str) -> None:
    # CI installs everything; elsewhere a machine without the tool skips these tests.
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The site as ``make docs`` builds it, in a temporary directory."""
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        _missing("mkdocs (make docs installs it)")
    out = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        check=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    return out


@pytest.fixture(scope="module")
def served(site: pathlib.Path) -> Iterator[str]:
    """The site on a loopback HTTP server, as ``python -m http.server`` serves it."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(30)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    if chromium_path() is None:
        _missing("Chromium (apt-get install chromium)")
    with chromium(tmp_path_factory.mktemp("profile")) as tab:
        yield tab


RESULTS = "Array.from(document.querySelectorAll('.md-search-result__item a'), a => a.href)"
NOTE = "document.getElementById('offline-search-note')"


def test_search_finds_pages_when_served(page: Page, served: str) -> None:
    page.goto(f"{served}/?q=terminal")
    links = page.wait_for(f"{RESULTS}.length > 0 && {RESULTS}")
    assert any("/guides/terminal/" in link for link in links), links
    assert page.evaluate(f"{NOTE} === null")


def test_opened_from_disk_a_page_says_search_needs_a_server(page: Page, site: pathlib.Path) -> None:
    page.goto((site / "guides" / "files" / "index.html").as_uri())
    text = page.wait_for(f"{NOTE} && {NOTE}.innerText")
    assert "Search needs the site to be served" in text
    assert "make docs-serve" in text
    assert "python3 -m http.server -d .venv/site 8000" in text


OVERFLOWING = """
Array.from(document.querySelectorAll('.md-content pre > code'))
  .filter(code => code.scrollWidth > code.clientWidth + 1)
  .map(code => code.innerText.split('\\n').reduce((a, b) => (b.length > a.length ? b : a)))
"""


@pytest.mark.parametrize("path", ["", "getting-started/"])
@pytest.mark.parametrize("width", [1280, 1024])
def test_code_blocks_fit_their_page(page: Page, served: str, path: str, width: int) -> None:
    page.goto(f"{served}/{path}", width=width)
    assert page.evaluate("document.querySelectorAll('.md-content pre > code').length") > 0
    assert page.evaluate(OVERFLOWING) == []
