"""The blocking backend's connection slots: a count that threads wait on only when it is
spent, and that gives up at an enclosing deadline."""

from __future__ import annotations

import threading
import time

from hopx_sync import BlockingBackend
from hopx_sync._backend import Scope, _Slots
from hopx_sync._driver import run


def _wait_until_waiting(slots: _Slots) -> None:
    deadline = time.monotonic() + 60
    while slots._waiting == 0:
        assert time.monotonic() < deadline, "the other thread never waited"
        time.sleep(0.001)


def test_a_spent_count_refuses_then_hands_a_released_slot_to_a_waiter() -> None:
    slots = _Slots(1)
    assert slots.acquire(blocking=False)
    assert not slots.acquire(blocking=False)
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(slots.acquire(timeout=60)))
    waiter.start()
    _wait_until_waiting(slots)
    slots.release()
    waiter.join(60)
    assert got == [True]
    assert not slots.acquire(blocking=False)  # the waiter holds it now
    slots.release()
    assert slots.acquire(blocking=False)


def test_a_wait_ends_at_its_timeout_with_no_slot_taken() -> None:
    slots = _Slots(1)
    assert slots.acquire(blocking=False)
    assert not slots.acquire(timeout=0.01)
    assert slots._waiting == 0
    slots.release()
    assert slots.acquire(blocking=False)


def test_waiting_for_a_slot_is_cut_by_the_enclosing_deadline() -> None:
    semaphore = BlockingBackend().semaphore(1)

    async def hold_then_wait() -> bool:
        async with semaphore:
            with Scope(0.05) as scope:
                async with semaphore:
                    raise AssertionError("a second slot was handed out")
            return scope.cancelled_caught

    assert run(hold_then_wait()) is True

    async def again() -> None:
        async with semaphore:  # the slot went back
            pass

    run(again())
