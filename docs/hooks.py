"""MkDocs hook: turn the docstrings' reStructuredText roles into links.

Docstrings name other objects the Sphinx way (``:class:`AsyncSandbox```, ``:meth:`~X.aclose```).
Rendered as Markdown, such a role would show as ``:class:`` followed by code. This hook turns
each one into a cross-reference that the autorefs plugin resolves when the object is in the API
reference, and into plain code when it is not (a private module, an outside library).
"""

from __future__ import annotations

import html
import re
from typing import Any

import hopx_proto
import hopx_proto.aio
import hopx_proto.ops
import hopx_proto.policy
import hopx_proto.streams
import hopx_proto.wire

ROLE = re.compile(r":(?:class|meth|func|attr|data|mod|exc|obj):<code>(?P<target>[^<]+)</code>")

#: Where an unqualified name is documented, most specific first.
HOMES = (
    ("hopx_proto.aio", frozenset(hopx_proto.aio.__all__)),
    ("hopx_proto", frozenset(hopx_proto.__all__)),
    ("hopx_proto.streams", frozenset(hopx_proto.streams.__all__)),
    ("hopx_proto.ops", frozenset(hopx_proto.ops.__all__)),
    ("hopx_proto.wire", frozenset(hopx_proto.wire.__all__)),
    ("hopx_proto.policy", frozenset(hopx_proto.policy.__all__)),
)


def identifier(target: str) -> str:
    """The reference identifier for a role's target (``~`` and leading dots removed)."""
    name = target.lstrip("~.").strip()
    if name.startswith(("hopx_proto", "hopx_io", "hopx_trio", "hopx_asyncio", "hopx_local")):
        return name
    first = name.split(".", 1)[0]
    for module, names in HOMES:
        if first in names:
            return f"{module}.{name}"
    return name


def shown(target: str) -> str:
    """What the reader sees: the last component after ``~``, else the target as written."""
    name = target.strip()
    if name.startswith("~"):
        return name[1:].rsplit(".", 1)[-1]
    return name


def _replace(match: re.Match[str]) -> str:
    target = html.unescape(match["target"])
    ident = html.escape(identifier(target), quote=True)
    text = html.escape(shown(target))
    return f'<autoref identifier="{ident}" optional><code>{text}</code></autoref>'


def on_page_content(html_text: str, **_kwargs: Any) -> str:
    """Rewrite every role of a rendered page."""
    return ROLE.sub(_replace, html_text)
