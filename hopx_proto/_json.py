"""JSON decoding for bodies and stream frames: what ``json.loads`` returns, faster.

With the ``speedups`` extra installed (orjson), documents are parsed by orjson; without it, by
the standard library's C scanner called directly. Either way the result is the one
``json.loads`` gives, and so is the error:

* orjson refuses what the standard library accepts beyond strict JSON (``NaN``, ``Infinity``,
  numbers too large for a float, lone surrogates, UTF-16 and UTF-32 bytes, a UTF-8 BOM in
  bytes, deeper nesting than it allows): such a document is parsed again by ``json.loads``,
  which decides;
* orjson reads an integer outside 64 bits as a float, where ``json.loads`` keeps the exact
  integer: a document holding a float that large (every such float is integral) is parsed
  again by ``json.loads`` too.

Nothing here is used for encoding: the bytes we send are ``json.dumps``' own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

try:
    import orjson as _orjson
except ImportError:  # the speedups extra is not installed
    _orjson = None  # type: ignore[assignment]

__all__ = ["ORJSON", "loads", "orjson_loads", "stdlib_loads"]

#: Whether orjson is installed and used.
ORJSON = _orjson is not None

# The decoder's C scanner (untyped in the stubs): what json.loads runs, minus two whitespace
# regular expressions and three Python calls around it.
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]

#: Floats at least this large (in magnitude) may be integers orjson read past 64 bits.
_WIDE = float(1 << 63)


def stdlib_loads(data: str | bytes) -> Any:
    """``json.loads(data)``, with the C scanner called directly for the usual document (text
    without whitespace around the value); anything else goes through ``json.loads``."""
    if type(data) is str:
        try:
            obj, end = _scan_once(data, 0)
        except (StopIteration, ValueError):
            return json.loads(data)
        if end == len(data):
            return obj
    return json.loads(data)


def _exact(value: Any) -> bool:
    """Whether no number in ``value`` may be an integer orjson read as a float."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif kind is float and (item >= _WIDE or item <= -_WIDE):
            return False
    return True


def _orjson_loads(data: str | bytes) -> Any:
    """``json.loads(data)``, parsed by orjson where orjson gives the same (see the module)."""
    assert _orjson is not None
    try:
        value = _orjson.loads(data)
    except _orjson.JSONDecodeError:
        return json.loads(data)
    kind = type(value)
    if (kind is dict or kind is list or kind is float) and not _exact(value):
        return json.loads(data)
    return value


#: The orjson path, or ``None`` without orjson.
orjson_loads: Callable[[str | bytes], Any] | None = _orjson_loads if ORJSON else None

#: ``json.loads``' result for ``data`` (``str`` or ``bytes``), by the fastest path installed;
#: raises what ``json.loads`` raises (``ValueError``, ``UnicodeDecodeError``,
#: ``RecursionError``).
loads: Callable[[str | bytes], Any] = _orjson_loads if ORJSON else stdlib_loads
