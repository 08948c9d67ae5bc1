"""The sanity run's xdist scheduler: cases go out as workers come up, one slow case each."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

from sanity.schedule import (
    MAX_AUTO_WORKERS,
    WaitingScheduling,
    auto_workers,
    is_slow_case,
    slow_case_count,
)

# Eight cases: the even ones slow (they provision), the odd ones quick.
CASES = [f"case{i}" for i in range(8)]


@dataclass(eq=False)
class FakeWorker:
    """The parts of xdist's WorkerController the scheduler uses, recording what it got."""

    name: str
    shutting_down: bool = False
    sent: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.gateway = SimpleNamespace(id=self.name)

    def send_runtest_some(self, indices: Sequence[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def scheduler(*workers: FakeWorker) -> WaitingScheduling:
    sched = WaitingScheduling(log=lambda *_: None, is_slow=lambda case: int(case[4:]) % 2 == 0)
    for worker in workers:
        sched.add_node(worker)
    return sched


def complete(sched: WaitingScheduling, worker: FakeWorker) -> int:
    """The worker finishes the first case it holds; returns that case."""
    index = sched.node2pending[worker][0]
    sched.mark_test_complete(worker, index)
    return index


def test_the_first_worker_starts_before_the_others_have_collected() -> None:
    first, late = FakeWorker("gw0"), FakeWorker("gw1")
    sched = scheduler(first, late)
    sched.add_node_collection(first, CASES)
    assert sched.collection_is_completed
    sched.schedule()
    assert first.sent == [0, 1]  # a slow case, and a quick one queued behind it
    assert late.sent == []
    sched.add_node_collection(late, CASES)
    sched.schedule()
    assert late.sent == [2, 3]


def test_no_worker_holds_two_slow_cases_while_quick_ones_are_left() -> None:
    workers = [FakeWorker(f"gw{i}") for i in range(3)]
    sched = scheduler(*workers)
    for worker in workers:
        sched.add_node_collection(worker, CASES)
    sched.schedule()
    finished: list[int] = []
    while sched.has_pending:
        for worker in workers:
            held = sched.node2pending[worker]
            assert sum(1 for i in held if i % 2 == 0) <= 1, (worker.name, held)
            if held:
                finished.append(complete(sched, worker))
    assert sorted(finished) == list(range(8))
    assert sched.tests_finished and all(worker.shutting_down for worker in workers)


def test_a_worker_that_dies_hands_its_cases_back() -> None:
    dying, healthy = FakeWorker("gw0"), FakeWorker("gw1")
    sched = scheduler(dying, healthy)
    sched.add_node_collection(dying, CASES)
    sched.schedule()
    assert sched.remove_node(dying) == "case0"  # the case it was running
    sched.add_node_collection(healthy, CASES)
    sched.schedule()
    assert healthy.sent == [2, 1]  # the next slow case, then the quick one it had queued


def test_a_worker_that_collected_other_cases_gets_none() -> None:
    first, odd = FakeWorker("gw0"), FakeWorker("gw1")
    sched = scheduler(first, odd)
    sched.add_node_collection(first, CASES)
    sched.add_node_collection(odd, CASES[:-1])
    sched.schedule()
    assert odd.sent == [] and odd.shutting_down


def test_auto_sizes_for_waiting_not_for_cores() -> None:
    # A worker per slow case, so that every CreateVolume waits at once; bounded per core
    # (start-up CPU) and in all (memory); never fewer than two.
    assert [auto_workers(19, cores) for cores in (1, 2, 4)] == [16, 19, 19]
    assert auto_workers(200, 64) == MAX_AUTO_WORKERS
    assert auto_workers(0, 2) == 2


def test_slow_cases_are_counted_per_enabled_profile() -> None:
    # The profiles' classes skip as a whole when off, so their slow cases do not count.
    default = slow_case_count(frozenset())
    fsx, strict = slow_case_count(frozenset({"fsx"})), slow_case_count(frozenset({"strict"}))
    both = slow_case_count(frozenset({"fsx", "strict"}))
    assert 0 < default < fsx < both and default < strict < both
    assert both - default == (fsx - default) + (strict - default)
    marked = sum(
        is_slow_case(f"sanity/cases/{module}.py::{cls.__name__}::{name}")
        for module in ("test_controller", "test_node")
        for cls in vars(importlib.import_module(f"sanity.cases.{module}")).values()
        if isinstance(cls, type) and cls.__name__.startswith("Test")
        for name in dir(cls)
        if name.startswith("test")
    )
    assert 0 < marked < default


def test_slow_cases_are_found_by_their_markers() -> None:
    assert is_slow_case(
        "sanity/cases/test_node.py::TestNodeService::test_runs_the_whole_node_workflow"
    )
    assert is_slow_case(
        "sanity/cases/test_controller.py::TestListVolumes::test_lists_new_volumes_and_omits_deleted_ones"
    )
    assert not is_slow_case(
        "sanity/cases/test_identity.py::TestProbe::test_answers_ready_or_not_ready"
    )
    assert not is_slow_case("sanity/cases/test_nothing.py::TestNone::test_none")


def test_cases_a_worker_gives_back_are_handed_out_again() -> None:
    giver, other = FakeWorker("gw0"), FakeWorker("gw1")
    sched = scheduler(giver, other)
    for worker in (giver, other):
        sched.add_node_collection(worker, CASES)
    sched.schedule()
    assert giver.sent == [0, 1]
    # The worker keeps the case it runs and returns the one queued behind it: that case goes
    # back to the front of its queue and out again, held by exactly one worker.
    sched.remove_pending_tests_from_node(giver, [1])
    held = sched.node2pending[giver] + sched.node2pending[other]
    assert held.count(1) == 1 and (giver.sent + other.sent).count(1) == 2


def test_fsx_csi_sanity_n_auto_starts_a_worker_per_slow_case_of_its_profile() -> None:
    import argparse

    from sanity.cli import add_arguments, pytest_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for profile in ("none", "strict,fsx"):
        args = parser.parse_args(
            ["--csi.endpoint=unix:///csi.sock", "-n", "auto", "--profile", profile]
        )
        argv = pytest_arguments(args, fork_launcher="LAUNCHER")
        expected = auto_workers(slow_case_count(frozenset(profile.split(",")) - {"none"}))
        assert argv[argv.index("--tx") + 1] == f"{expected}*popen//python=LAUNCHER"
