"""What every fuzz harness shares: the invariants, the smoke-mode mutator and the entry point.

A harness is a function ``run(data: bytes) -> None`` plus a list of seed inputs. ``run`` feeds
``data`` to a parser and raises :class:`InvariantViolation` when the parser misbehaves; any
exception other than the library's own (:class:`hopx_proto._errors.HopxError`) escapes
``run`` as it is, which is a crash too.

The same ``run`` works two ways:

* under atheris (coverage-guided, for long runs): ``python -m fuzz.<harness> [corpus dirs]
  [libFuzzer flags]``;
* in smoke mode (no atheris needed, deterministic): ``python -m fuzz.<harness> --smoke N``,
  which runs every seed, then ``N`` inputs made by a seeded random mutator from the seeds.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import pathlib
import random
import sys
import time
import traceback
import zlib
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import attrs

from hopx_proto._errors import HopxError

__all__ = [
    "FUZZ_DIR",
    "Feed",
    "Harness",
    "InvariantViolation",
    "MissingTarget",
    "Result",
    "SmokeReport",
    "check_split_invariance",
    "cut_after_last",
    "merge_adjacent",
    "mutate",
    "require_module",
    "run_smoke",
    "split_pieces",
]

FUZZ_DIR = pathlib.Path(__file__).resolve().parent
#: Inputs longer than this are cut before byte-by-byte feeding (keeps iterations fast).
MAX_INPUT = 8192


class InvariantViolation(AssertionError):
    """A parser broke one of the invariants the harness checks."""


class MissingTarget(RuntimeError):
    """The module a harness fuzzes does not exist: the harness cannot run, and says so."""


def require_module(name: str) -> Any:
    """Import the module under test; a missing module raises :class:`MissingTarget`.

    A harness must never pass because its target does not exist.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            raise MissingTarget(f"fuzz target {name} does not exist ({exc})") from None
        raise


@attrs.frozen
class Result:
    """What a parser made of one way of feeding an input: events, then the error type if any.

    Results agree when the events and the error type are equal. A feed that streams pieces of
    a unit (a body, a part) drops the unit in flight when an error ends it, since how much of
    it came out before the error depends on how the input was split.
    """

    events: tuple[Hashable, ...]
    error: type[HopxError] | None
    detail: str = attrs.field(default="", eq=False)

    def __str__(self) -> str:
        shown = ", ".join(repr(e)[:80] for e in self.events[:12])
        more = f", ... ({len(self.events)} events)" if len(self.events) > 12 else ""
        error = f" then {self.error.__name__}: {self.detail[:200]}" if self.error else ""
        return f"[{shown}{more}]{error}"


#: Feeds a sequence of pieces to a fresh parser and returns what came out.
Feed = Callable[[Sequence[bytes]], Result]


def split_pieces(data: bytes) -> list[bytes]:
    """``data`` cut into pieces of 1..13 bytes, sizes derived from the data (reproducible)."""
    state = zlib.crc32(data) | 1
    pieces: list[bytes] = []
    pos = 0
    while pos < len(data):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        size = 1 + (state >> 16) % 13
        pieces.append(data[pos : pos + size])
        pos += size
    return pieces


def check_split_invariance(feed: Feed, data: bytes) -> Result:
    """Feed ``data`` whole, byte by byte and in uneven pieces; all three must agree.

    Returns the whole-input result. Only :class:`HopxError` subclasses may be raised by the
    parser (``feed`` catches those); anything else propagates.
    """
    data = data[:MAX_INPUT]
    whole = feed([data])
    bytewise = feed([data[i : i + 1] for i in range(len(data))])
    if bytewise != whole:
        raise InvariantViolation(
            f"whole input and byte-by-byte input differ:\n  whole:     {whole}\n"
            f"  bytewise:  {bytewise}"
        )
    pieces = feed(split_pieces(data))
    if pieces != whole:
        raise InvariantViolation(
            f"whole input and split input differ:\n  whole:  {whole}\n  pieces: {pieces}"
        )
    return whole


def cut_after_last(events: Sequence[Hashable], boundary: tuple[type[Any], ...]) -> list[Hashable]:
    """``events`` up to and including the last one of a ``boundary`` type."""
    for index in range(len(events) - 1, -1, -1):
        if isinstance(events[index], boundary):
            return list(events[: index + 1])
    return []


def merge_adjacent(
    events: Iterable[Hashable], chunk_type: type[Any], field: str = "data"
) -> list[Hashable]:
    """Events with adjacent ``chunk_type`` values merged (by concatenating ``field``).

    Empty chunks are dropped, so the split of a byte stream never shows in the result.
    """
    merged: list[Hashable] = []
    for event in events:
        if isinstance(event, chunk_type):
            value = getattr(event, field)
            if not value:
                continue
            last = merged[-1] if merged else None
            if isinstance(last, chunk_type):
                merged[-1] = chunk_type(getattr(last, field) + value)
                continue
        merged.append(event)
    return merged


@attrs.frozen
class Harness:
    """One fuzz target: its name, the function run per input and its seed inputs."""

    name: str
    run: Callable[[bytes], None]
    seeds: Callable[[], list[bytes]]

    def seed_dir(self) -> pathlib.Path:
        return FUZZ_DIR / "corpus-seeds" / self.name

    def corpus_dir(self) -> pathlib.Path:
        return FUZZ_DIR / "corpus" / self.name


# ---------------------------------------------------------------------------------------------
# Smoke mode: a seeded mutator over the seeds

_TOKENS = [
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b"\r",
    b"\x00",
    b" ",
    b":",
    b";",
    b"=",
    b'"',
    b"\\",
    b"%",
    b"0",
    b"1",
    b"9",
    b"ff",
    b"-1",
    b"99999999999999999999",
    b"0\r\n\r\n",
    b"chunked",
    b"content-length: ",
    b"transfer-encoding: chunked\r\n",
    b"HTTP/1.1 ",
    b"HTTP/1.0 ",
    b"\x81",
    b"\x82",
    b"\x88",
    b"\x89",
    b"\x8a",
    b"\x01",
    b"\x00\x00",
    b"\x7e",
    b"\x7f",
    b"\xff\xff",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"{",
    b"}",
    b"[",
    b"]",
    b'{"type":"',
    b'":',
    b"null",
    b"true",
    b"1e999",
    b"--",
    b"data: ",
    b"event: ",
    b"id: ",
    b"retry: ",
    b"Content-Disposition: form-data; name=",
    b"filename*=UTF-8''",
]


def mutate(rng: random.Random, data: bytes, others: Sequence[bytes]) -> bytes:
    """One to four random edits of ``data``: flips, inserts, deletes, duplications, splices."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        pos = rng.randint(0, len(buf))
        if op == 0 and buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 2:
            buf[pos:pos] = rng.choice(_TOKENS)
        elif op == 3 and buf:
            end = min(len(buf), pos + rng.randint(1, 16))
            del buf[pos:end]
        elif op == 4 and buf:
            start = rng.randrange(len(buf))
            piece = buf[start : start + rng.randint(1, 32)]
            buf[pos:pos] = piece * rng.randint(1, 4)
        elif op == 5 and others:
            other = rng.choice(others)
            cut = rng.randint(0, len(other))
            buf = buf[:pos] + other[cut:]
        elif op == 6:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 7 and buf:
            del buf[rng.randint(0, len(buf)) :]
    return bytes(buf[:MAX_INPUT])


@attrs.frozen
class SmokeReport:
    """What a smoke run did."""

    name: str
    iterations: int
    seconds: float


class SmokeFailure(Exception):
    """A smoke run found an input that breaks the harness; the input is saved to a file."""

    def __init__(self, message: str, data: bytes, saved: pathlib.Path | None) -> None:
        super().__init__(message)
        self.data = data
        self.saved = saved


def _save_crash(harness: Harness, data: bytes, out_dir: pathlib.Path | None) -> pathlib.Path | None:
    if out_dir is None:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"crash-{harness.name}-{hashlib.sha1(data).hexdigest()[:16]}"
    path.write_bytes(data)
    return path


def run_smoke(
    harness: Harness,
    iterations: int,
    *,
    seed: int = 0,
    crash_dir: pathlib.Path | None = None,
) -> SmokeReport:
    """Run every seed, then ``iterations`` mutated inputs.

    Raises :class:`SmokeFailure` (with the input saved under ``crash_dir``) on a crash.
    """
    seeds = harness.seeds()
    if not seeds:
        raise SmokeFailure(f"{harness.name}: no seed inputs", b"", None)
    rng = random.Random(f"{harness.name}:{seed}")
    start = time.perf_counter()
    count = 0
    for data in _inputs(rng, seeds, iterations):
        count += 1
        try:
            harness.run(data)
        except BaseException as exc:  # the point of fuzzing: any crash is reported
            if isinstance(exc, KeyboardInterrupt):
                raise
            saved = _save_crash(harness, data, crash_dir)
            detail = "".join(traceback.format_exception(exc))
            raise SmokeFailure(
                f"{harness.name}: input #{count} ({len(data)} bytes, saved to {saved}) "
                f"crashed:\n{detail}",
                data,
                saved,
            ) from exc
    return SmokeReport(harness.name, count, time.perf_counter() - start)


def _inputs(rng: random.Random, seeds: list[bytes], iterations: int) -> Iterable[bytes]:
    yield from seeds
    for _ in range(iterations):
        yield mutate(rng, rng.choice(seeds), seeds)


# ---------------------------------------------------------------------------------------------
# Entry point


def main(harness: Harness, argv: Sequence[str] | None = None) -> None:
    """Command line of every harness module (see fuzz/README.md)."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=f"python -m fuzz.fuzz_{harness.name}")
    parser.add_argument("--smoke", type=int, metavar="N", help="deterministic run of N inputs")
    parser.add_argument("--seed", type=int, default=0, help="smoke-mode random seed")
    parser.add_argument(
        "--reproduce",
        type=pathlib.Path,
        metavar="FILE",
        help="run one saved input and show the traceback",
    )
    known, rest = parser.parse_known_args(args)
    if known.reproduce is not None:
        harness.run(known.reproduce.read_bytes())
        print(f"{harness.name}: {known.reproduce} ran without a crash")
        return
    if known.smoke is not None:
        try:
            report = run_smoke(
                harness, known.smoke, seed=known.seed, crash_dir=FUZZ_DIR / "crashes"
            )
        except SmokeFailure as failure:
            print(failure, file=sys.stderr)
            raise SystemExit(1) from None
        print(f"{report.name}: {report.iterations} inputs, no crash ({report.seconds:.1f} s)")
        return
    import atheris  # type: ignore[import-untyped]

    atheris.instrument_all()
    atheris.Setup([sys.argv[0], *rest], harness.run)
    atheris.Fuzz()
