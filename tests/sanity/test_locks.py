"""The run lock: what waits for what.

flock locks belong to open file descriptions, so two RunLock users in one process exclude
each other exactly as two xdist workers do; threads stand in for the workers here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from sanity.locks import CaseLock, RunLock
from sanity.plugin import _counts_this_time
from sanity.spec import exclusive, exclusive_if


@contextmanager
def held_elsewhere(lock: Callable[[], AbstractContextManager[None]]) -> Iterator[None]:
    """Hold `lock()` in another thread (another worker) until the block ends."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock():
            taken.set()
            release.wait(10)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(5), "the other worker did not get the lock within 5s"
    try:
        yield
    finally:
        release.set()
        thread.join(5)


def finishes_within(seconds: float, action: Callable[[], object]) -> bool:
    done = threading.Event()

    def run() -> None:
        action()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(seconds)


def rpc(case_lock: CaseLock, name: str) -> Callable[[], None]:
    def call() -> None:
        with case_lock.around_rpc(name):
            pass

    return call


def test_read_only_rpcs_never_wait_for_a_counting_case(tmp_path: Path) -> None:
    case_lock = CaseLock(RunLock(tmp_path))
    with held_elsewhere(RunLock(tmp_path).exclusive):
        assert finishes_within(2, rpc(case_lock, "ListVolumes"))
        assert finishes_within(2, rpc(case_lock, "NodeGetInfo"))


def test_count_changing_rpcs_wait_while_a_counting_case_runs(tmp_path: Path) -> None:
    case_lock = CaseLock(RunLock(tmp_path))
    with held_elsewhere(RunLock(tmp_path).exclusive):
        for name in ("CreateVolume", "DeleteVolume", "NodePublishVolume", "SomeFutureRpc"):
            assert not finishes_within(0.3, rpc(case_lock, name)), f"{name} did not wait"
    assert finishes_within(2, rpc(case_lock, "CreateVolume"))


def test_a_counting_case_takes_the_lock_at_once_only_when_nothing_changes(tmp_path: Path) -> None:
    case_lock = CaseLock(RunLock(tmp_path))
    with held_elsewhere(RunLock(tmp_path).shared):  # another worker's CreateVolume in flight
        assert not case_lock.try_exclusive_now()
        assert not case_lock.holds_exclusive
    assert case_lock.try_exclusive_now()
    assert case_lock.holds_exclusive
    other = CaseLock(RunLock(tmp_path))
    assert not finishes_within(0.3, rpc(other, "CreateVolume"))
    case_lock.release_exclusive()
    assert finishes_within(2, rpc(other, "CreateVolume"))


def test_an_armed_counting_case_waits_at_its_first_rpc_and_keeps_the_lock(
    tmp_path: Path,
) -> None:
    case_lock = CaseLock(RunLock(tmp_path))
    case_lock.armed = True
    with held_elsewhere(RunLock(tmp_path).shared):
        assert not finishes_within(0.3, rpc(case_lock, "ListVolumes"))
    # The waiting call gets the lock once the other worker's RPC has ended.
    deadline = time.monotonic() + 2
    while not case_lock.holds_exclusive and time.monotonic() < deadline:
        time.sleep(0.01)
    assert case_lock.holds_exclusive, "the counting case did not get the lock within 2s"
    # Its own count-changing RPCs (also from its threads) do not queue behind itself.
    threads_done = [finishes_within(2, rpc(case_lock, "CreateVolume")) for _ in range(4)]
    assert all(threads_done)
    other = CaseLock(RunLock(tmp_path))
    assert not finishes_within(0.3, rpc(other, "DeleteVolume"))
    case_lock.armed = False
    case_lock.release_exclusive()
    assert finishes_within(2, rpc(other, "DeleteVolume"))


def _case_item(function: Callable[..., object], sanity: object) -> pytest.Item:
    """What the plugin reads from a collected case: its function and its fixture values."""
    return cast(pytest.Item, SimpleNamespace(function=function, funcargs={"sanity": sanity}))


def test_a_conditional_counting_case_counts_only_when_its_condition_holds() -> None:
    offers_listing = SimpleNamespace(lists=True)
    lacks_listing = SimpleNamespace(lists=False)

    @exclusive
    def always(sanity: object) -> None: ...

    @exclusive_if(lambda sanity: bool(sanity.lists))
    def when_listing(sanity: object) -> None: ...

    def broken_condition(sanity: object) -> bool:
        raise RuntimeError("ControllerGetCapabilities failed")

    @exclusive_if(broken_condition)
    def unknowable(sanity: object) -> None: ...

    assert _counts_this_time(_case_item(always, lacks_listing))
    assert _counts_this_time(_case_item(when_listing, offers_listing))
    assert not _counts_this_time(_case_item(when_listing, lacks_listing))
    # When the condition cannot be answered the case keeps the lock, as if it counted.
    assert _counts_this_time(_case_item(unknowable, offers_listing))
