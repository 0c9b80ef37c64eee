"""Every fuzz harness in smoke mode (seeds plus a fixed number of mutated inputs), and the
harness machinery itself: it must catch crashes and broken invariants, and refuse to run
without its target."""

from __future__ import annotations

import pathlib
import random
from collections.abc import Sequence

import pytest

from fuzz._harness import (
    Harness,
    InvariantViolation,
    MissingTarget,
    Result,
    SmokeFailure,
    check_split_invariance,
    mutate,
    require_module,
    run_smoke,
    split_pieces,
)
from fuzz.run_smoke import HARNESS_MODULES, load_harness
from hopx_proto._errors import RemoteProtocolError

#: Mutated inputs per harness, sized so the whole module stays well under a minute.
ITERATIONS = {
    "fuzz_http_response": 250,
    "fuzz_http_request": 400,
    "fuzz_ws_client": 400,
    "fuzz_ws_server": 400,
    "fuzz_multipart": 800,
    "fuzz_sse": 800,
    "fuzz_streams": 2000,
}


def test_every_harness_has_an_iteration_budget() -> None:
    assert set(ITERATIONS) == set(HARNESS_MODULES)


@pytest.mark.parametrize("module", HARNESS_MODULES)
def test_harness_smoke(module: str, tmp_path: pathlib.Path) -> None:
    harness = load_harness(module)
    seeds = harness.seeds()
    assert len(seeds) >= 5, "a harness needs a real seed corpus"
    report = run_smoke(harness, ITERATIONS[module], seed=0, crash_dir=tmp_path)
    assert report.iterations == len(seeds) + ITERATIONS[module]
    assert not list(tmp_path.iterdir())


def test_smoke_run_reports_and_saves_a_crashing_input(tmp_path: pathlib.Path) -> None:
    def run(data: bytes) -> None:
        if b"\x00" in data:
            raise KeyError("a crash the harness must report")

    harness = Harness("planted", run, lambda: [b"abc", b"def"])
    with pytest.raises(SmokeFailure) as info:
        run_smoke(harness, 5000, seed=1, crash_dir=tmp_path)
    assert b"\x00" in info.value.data
    assert info.value.saved is not None
    assert info.value.saved.read_bytes() == info.value.data
    assert "KeyError" in str(info.value)


def test_smoke_inputs_are_deterministic() -> None:
    seen: list[list[bytes]] = [[], []]
    for record in seen:
        harness = Harness("record", record.append, lambda: [b"GET / HTTP/1.1\r\n\r\n"])
        run_smoke(harness, 50, seed=7)
    assert seen[0] == seen[1]
    assert len(set(seen[0])) > 10


def test_mutate_stays_within_the_input_limit() -> None:
    rng = random.Random(3)
    data = b"x" * 100
    for _ in range(500):
        data = mutate(rng, data, [b"seed"])
        assert len(data) <= 8192


def test_split_pieces_keeps_every_byte() -> None:
    data = bytes(range(256)) * 3
    pieces = split_pieces(data)
    assert b"".join(pieces) == data
    assert len(pieces) > 50
    assert all(1 <= len(p) <= 13 for p in pieces)
    assert split_pieces(data) == pieces


def test_split_invariance_check_catches_a_split_dependent_parser() -> None:
    def feed(pieces: Sequence[bytes]) -> Result:
        return Result((len(pieces),), None)

    with pytest.raises(InvariantViolation, match="byte-by-byte"):
        check_split_invariance(feed, b"abc")

    def failing_late(pieces: Sequence[bytes]) -> Result:
        return Result((), RemoteProtocolError if len(pieces) > 1 else None)

    with pytest.raises(InvariantViolation):
        check_split_invariance(failing_late, b"abc")


def test_split_invariance_lets_foreign_exceptions_through() -> None:
    def feed(pieces: Sequence[bytes]) -> Result:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        check_split_invariance(feed, b"abc")


def test_a_missing_target_fails_loudly() -> None:
    with pytest.raises(MissingTarget, match=r"hopx_proto\._no_such_parser"):
        require_module("hopx_proto._no_such_parser")
    assert require_module("hopx_proto._http").__name__ == "hopx_proto._http"
