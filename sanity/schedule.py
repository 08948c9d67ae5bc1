"""Hand the cases to xdist workers so that a parallel run scales with waiting, not cores.

xdist's own load scheduler waits until every worker has started and collected before any
case runs, and keeps two cases queued on each worker (a worker runs a case only once it knows
the next one). With many workers on few cores, start-up then delays every case, and a slow
case queued behind another slow one waits its whole duration although other workers idle.

`WaitingScheduling` instead
* starts handing out cases as soon as the first worker has collected; the others join as
  they come up, so their start-up overlaps the first cases' waiting;
* gives each worker at most one slow case at a time (a case that provisions or counts, see
  sanity/spec.py): the case queued behind a slow one is a quick one whenever quick ones are
  left, so no slow case waits behind another on a busy worker while a worker is free;
* keeps the plugin's order otherwise: counting cases first, then provisioning ones, then
  the quick ones.

Only the controller process uses this module, and only when the run is a sanity run with
`--dist load` (what `fsx-csi sanity -n N` passes). The scheduler methods are the ones xdist's
DSession calls (its scheduler protocol); none of them blocks.
"""

from __future__ import annotations

import importlib
import os
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sanity.spec import EXCLUSIVE_ATTRIBUTE, PROFILE_ATTRIBUTE, PROVISIONS_ATTRIBUTE

# A worker runs a case once it has the next one (or the shutdown signal): two in its queue.
QUEUE_DEPTH = 2
# `-n auto`: workers mostly wait on the driver, so there is one per slow case (the run is then
# as long as its longest case), bounded by what a worker costs: about 0.3 s of CPU to start
# (forked from the fork server) and 60 MB of memory: 16 per core, at most 48.
WORKERS_PER_CORE, MAX_AUTO_WORKERS = 16, 48
CASES_PACKAGE = "sanity.cases"


def auto_workers(slow_cases: int, cores: int | None = None) -> int:
    """How many workers `-n auto` starts for a sanity run with `slow_cases` cases that
    provision or count (see `slow_case_count`)."""
    bound = min(MAX_AUTO_WORKERS, WORKERS_PER_CORE * (cores or os.cpu_count() or 1))
    return max(2, min(bound, slow_cases))


def auto_workers_for(profile: str | None) -> int:
    """`-n auto` for a run with this --csi.profile value (None: the default profile)."""
    from sanity.config import profile_names

    return auto_workers(slow_case_count(profile_names(profile or "none")))


def slow_case_count(profiles: frozenset[str]) -> int:
    """How many cases of the suite provision or count when the extra `profiles` (fsx,
    strict) are on: a case class of a profile that is off skips all its cases at once.
    An upper bound of the cases that wait on CreateVolume: a case whose driver lacks the
    capability skips too, which only the run can tell."""
    import pkgutil

    package = importlib.import_module(CASES_PACKAGE)
    count = 0
    for module_info in pkgutil.iter_modules(package.__path__):
        if not module_info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"{CASES_PACKAGE}.{module_info.name}")
        for name, case_class in vars(module).items():
            if not (
                name.startswith("Test")
                and isinstance(case_class, type)
                and case_class.__module__ == module.__name__
            ):
                continue
            profile = getattr(case_class, PROFILE_ATTRIBUTE, None)
            if profile is not None and profile not in profiles:
                continue
            count += sum(
                1
                for attribute in dir(case_class)
                if attribute.startswith("test")
                and (case := getattr(case_class, attribute))
                and (
                    getattr(case, PROVISIONS_ATTRIBUTE, False)
                    or getattr(case, EXCLUSIVE_ATTRIBUTE, False)
                )
            )
    return count


class Worker(Protocol):
    """What the scheduler needs of xdist's WorkerController."""

    shutting_down: bool

    def send_runtest_some(self, indices: Sequence[int]) -> None: ...

    def shutdown(self) -> None: ...


def is_slow_case(nodeid: str) -> bool:
    """Whether the sanity case `nodeid` provisions or counts: it lasts as long as the driver
    takes to create a volume (minutes on AWS). Found from the case's own markers, by
    importing its module in this (controller) process."""
    path, _, rest = nodeid.partition("::")
    names = rest.split("::")
    if not path.endswith(".py") or not names or not names[-1]:
        return False
    module_name = path.removesuffix(".py").replace("/", ".")
    try:
        target: Any = importlib.import_module(module_name)
        for name in names:
            target = getattr(target, name.split("[", 1)[0])
    except (ImportError, AttributeError):
        return False
    return bool(
        getattr(target, PROVISIONS_ATTRIBUTE, False) or getattr(target, EXCLUSIVE_ATTRIBUTE, False)
    )


class WaitingScheduling:
    """xdist scheduler for an I/O-bound suite (see the module docstring)."""

    def __init__(self, log: Callable[..., None], is_slow: Callable[[str], bool]) -> None:
        self.log = log
        self.is_slow = is_slow
        self.node2pending: dict[Any, list[int]] = {}
        self.node2collection: dict[Any, list[str]] = {}
        self.collection: list[str] | None = None
        self.slow: deque[int] = deque()
        self.quick: deque[int] = deque()
        self._slow_indices: frozenset[int] = frozenset()

    # --- what DSession reads -------------------------------------------------------------

    @property
    def nodes(self) -> list[Any]:
        return list(self.node2pending)

    @property
    def collection_is_completed(self) -> bool:
        # One collection is enough to start: later workers join as they finish theirs.
        return self.collection is not None

    @property
    def tests_finished(self) -> bool:
        if self.collection is None or self.slow or self.quick:
            return False
        return all(len(pending) < QUEUE_DEPTH for pending in self.node2pending.values())

    @property
    def has_pending(self) -> bool:
        return bool(self.slow or self.quick) or any(self.node2pending.values())

    # --- what DSession tells it ----------------------------------------------------------

    def add_node(self, node: Any) -> None:
        assert node not in self.node2pending
        self.node2pending[node] = []

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        assert node in self.node2pending
        if self.collection is None:
            self.collection = list(collection)
            slow = [i for i, nodeid in enumerate(self.collection) if self.is_slow(nodeid)]
            self._slow_indices = frozenset(slow)
            self.slow.extend(slow)
            self.quick.extend(i for i in range(len(self.collection)) if i not in self._slow_indices)
        elif list(collection) != self.collection:
            # Indices name cases in the first collection; a worker that collected others
            # would run the wrong ones, so it gets none.
            self.log(
                f"worker {node.gateway.id} collected {len(collection)} cases, not the "
                f"{len(self.collection)} of the first worker: it runs none"
            )
            node.shutdown()
            return
        self.node2collection[node] = list(collection)

    def schedule(self) -> None:
        for node in list(self.node2collection):
            self._fill(node)

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self.node2pending[node].remove(item_index)
        self._fill(node)

    def mark_test_pending(self, item: str) -> None:
        assert self.collection is not None
        self._requeue([self.collection.index(item)])
        self.schedule()

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        # xdist calls this when a worker gives back cases it was sent (work stealing; this
        # scheduler never asks for it, but a worker's answer must still not lose a case).
        pending = self.node2pending[node]
        for index in indices:
            pending.remove(index)
        self._requeue(list(indices))
        self.schedule()

    def remove_node(self, node: Any) -> str | None:
        pending = self.node2pending.pop(node)
        self.node2collection.pop(node, None)
        if not pending:
            return None
        assert self.collection is not None
        # The worker died: the case it was running is its crash item, the rest go back.
        crashed = self.collection[pending.pop(0)]
        self._requeue(pending)
        self.schedule()
        return crashed

    # --- the hand-out ---------------------------------------------------------------------

    def _requeue(self, indices: Sequence[int]) -> None:
        for index in reversed(indices):
            (self.slow if index in self._slow_indices else self.quick).appendleft(index)

    def _next_for(self, pending: list[int]) -> int | None:
        """Next case for a worker holding `pending`: a slow one when it holds no slow case
        (it is idle, or runs a quick one), else a quick one. When one kind is used up, the
        other: a worker must hold two cases (or be shut down) to run the first."""
        holds_slow = any(index in self._slow_indices for index in pending)
        preferred, other = (self.quick, self.slow) if holds_slow else (self.slow, self.quick)
        if preferred:
            return preferred.popleft()
        return other.popleft() if other else None

    def _fill(self, node: Any) -> None:
        if node.shutting_down or node not in self.node2collection:
            return
        pending = self.node2pending[node]
        while len(pending) < QUEUE_DEPTH:
            index = self._next_for(pending)
            if index is None:
                break
            pending.append(index)
            node.send_runtest_some([index])
        if not self.slow and not self.quick:
            node.shutdown()  # it runs what it holds, then stops
