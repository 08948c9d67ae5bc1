"""pytest plugin of the sanity suite: options, fixtures, cleanup, summary and JSON result.

Registered as the pytest11 entry point `fsx_csi_sanity`, so it loads in every pytest run of
this environment. Outside a sanity run it only adds the `--csi.*` options (group csi-sanity)
and their `csi_*` ini keys: nothing connects, nothing is validated, nothing is printed until a
case from `sanity.cases` is collected. The logic lives in plain modules (config, context,
resources, results); this file only wires them into pytest.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from fsx_csi_harness.results import Leak
from sanity.config import FLAGS, ConfigError, SanityConfig, config_from_raw, load_inputs
from sanity.context import SanityContext, SessionState, default_lock_dir
from sanity.names import NameGenerator, new_run_id
from sanity.results import (
    PROP_LEAK,
    PROP_RPC_CALLS,
    PROP_RPC_SECONDS,
    PROP_SERVICE,
    PROP_UPSTREAM,
    ResultCollector,
    ask_driver,
)
from sanity.spec import (
    EXCLUSIVE_ATTRIBUTE,
    EXCLUSIVE_CONDITION_ATTRIBUTE,
    IT_ATTRIBUTE,
    PROVISIONS_ATTRIBUTE,
    upstream_name,
)

SANITY_TESTS_PACKAGE = "sanity.cases"
PROP_RUN_ID = "csi_sanity_run_id"


@dataclass
class PluginState:
    run_id: str
    worker_id: str
    collector: ResultCollector = field(default_factory=ResultCollector)
    session: SessionState | None = None
    open_contexts: dict[int, SanityContext] = field(default_factory=dict)


STATE_KEY = pytest.StashKey[PluginState]()
# The hooks that pytest calls without a config (logreport, keyboard interrupt) find it here.
_CONFIG: dict[str, pytest.Config] = {}


# --- options --------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("csi-sanity", "CSI sanity suite (a port of csi-sanity)")
    for spec in FLAGS:
        group.addoption(
            spec.flag,
            dest=spec.ini_key,
            default=None,
            metavar="BOOL" if spec.kind == "bool" else spec.kind.upper(),
            # A bare boolean flag means true, as with Go's flag package.
            nargs="?" if spec.kind == "bool" else None,
            const="true" if spec.kind == "bool" else None,
            help=f"{spec.help} (ini: {spec.ini_key})",
        )
        parser.addini(spec.ini_key, f"default for {spec.flag}: {spec.help}", default="")


def raw_settings(config: pytest.Config) -> dict[str, str | None]:
    """Flag values by SanityConfig field: the command line first, then the ini file."""
    raw: dict[str, str | None] = {}
    for spec in FLAGS:
        value = config.getoption(spec.ini_key)
        if value is None:
            ini_value = config.getini(spec.ini_key)
            value = ini_value if isinstance(ini_value, str) and ini_value.strip() else None
        raw[spec.field] = value
    return raw


def build_config(config: pytest.Config) -> SanityConfig:
    try:
        return config_from_raw(raw_settings(config))
    except ConfigError as exc:
        raise pytest.UsageError(f"csi-sanity: {exc}") from None


def _command_line_mentions_csi(config: pytest.Config) -> bool:
    return any(str(arg).startswith("--csi.") for arg in config.invocation_params.args)


def _state(config: pytest.Config) -> PluginState:
    return config.stash[STATE_KEY]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        run_id = str(workerinput.get("testrunuid", new_run_id()))[:8]
        worker_id = str(workerinput.get("workerid", "gw"))
    else:
        run_id, worker_id = new_run_id(), "main"
    config.stash[STATE_KEY] = PluginState(run_id, worker_id)
    _CONFIG["config"] = config
    if not _command_line_mentions_csi(config):
        return
    # The user asked for a sanity run: reject bad values before anything connects.
    sanity_config = build_config(config)
    if sanity_config.junit_file and not config.option.xmlpath:
        config.option.xmlpath = sanity_config.junit_file  # --csi.junitfile = --junit-xml


# --- collection -----------------------------------------------------------------------------


def _is_sanity_item(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    return bool(module and module.__name__.startswith(SANITY_TESTS_PACKAGE + "."))


def _is_exclusive(item: pytest.Item | None) -> bool:
    function = getattr(item, "function", None)
    return bool(item is not None and _is_sanity_item(item)) and bool(
        getattr(function, EXCLUSIVE_ATTRIBUTE, False)
    )


def _exclusive_condition(item: pytest.Item) -> Any:
    """The `exclusive_if` condition of a counting case, or None when it always counts."""
    return getattr(getattr(item, "function", None), EXCLUSIVE_CONDITION_ATTRIBUTE, None)


def _counts_this_time(item: pytest.Item) -> bool:
    """Whether a counting case counts in this run: always, unless its `exclusive_if`
    condition says otherwise. A condition that fails counts as true: the case then meets the
    same failure itself, with the lock held as if it counted."""
    condition = _exclusive_condition(item)
    if condition is None:
        return True
    context = getattr(item, "funcargs", {}).get("sanity")
    if context is None:
        return True
    try:
        return bool(condition(context))
    except Exception:  # noqa: BLE001 - the case reports it; the lock errs on the safe side
        return True


def _run_order(item: pytest.Item) -> int:
    """Sort key of the cases: those that count driver-wide state, then those that provision,
    then the quick ones (stable, so each group keeps its collection order).

    The counting cases come first because at the start of a run nothing changes yet, so they
    take the run lock without waiting, and back to back they take it once. The provisioning
    ones come next because xdist hands each worker its next case before the current one
    ends and cannot move that one elsewhere: when those last cases are quick ones, the
    workers finish together instead of one of them running two slow cases at the end.
    Verdicts do not depend on the order: each case cleans up after itself.
    """
    if not _is_sanity_item(item):
        return 2
    function = getattr(item, "function", None)
    if getattr(function, EXCLUSIVE_ATTRIBUTE, False):
        return 0
    return 1 if getattr(function, PROVISIONS_ATTRIBUTE, False) else 2


def _upstream_of(item: pytest.Item) -> tuple[str, str]:
    cls = getattr(item, "cls", None)
    function = getattr(item, "function", None)
    describe = str(getattr(cls, "DESCRIBE", ""))
    service = str(getattr(cls, "SERVICE", ""))
    it_text = str(getattr(function, IT_ATTRIBUTE, ""))
    return (upstream_name(describe, it_text) if it_text else ""), service


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    sanity_items = [item for item in items if _is_sanity_item(item)]
    if not sanity_items:
        return
    state = _state(config)
    for item in sanity_items:
        upstream, service = _upstream_of(item)
        item.user_properties.append((PROP_UPSTREAM, upstream))
        item.user_properties.append((PROP_SERVICE, service))
        item.user_properties.append((PROP_RUN_ID, state.run_id))
    items.sort(key=_run_order)
    if config.option.collectonly:
        return  # listing the cases needs no endpoint
    sanity_config = build_config(config)
    try:
        inputs = load_inputs(sanity_config)
    except ConfigError as exc:
        raise pytest.UsageError(f"csi-sanity: {exc}") from None
    state.session = SessionState(
        config=sanity_config,
        inputs=inputs,
        names=NameGenerator(state.run_id, state.worker_id.replace("-", "")),
        lock_dir=default_lock_dir(state.run_id),
    )


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sanity_session(pytestconfig: pytest.Config) -> SessionState:
    session = _state(pytestconfig).session
    if session is None:
        raise RuntimeError(
            "the csi-sanity session was not set up: sanity fixtures only work for cases in "
            f"the {SANITY_TESTS_PACKAGE} package (run `pytest --pyargs sanity`)"
        )
    return session


@pytest.fixture
def sanity(request: pytest.FixtureRequest, sanity_session: SessionState) -> Iterator[SanityContext]:
    """The per-case context; everything the case creates is undone at teardown."""
    state = _state(request.config)
    rpc_before = sanity_session.clock.snapshot()
    context = sanity_session.new_context(request.node.nodeid)
    state.open_contexts[id(context)] = context
    leaks: list[Leak] = []
    try:
        context.create_directories()
        yield context
    finally:
        leaks = context.close()
        state.open_contexts.pop(id(context), None)
        seconds, calls = sanity_session.clock.snapshot()
        request.node.user_properties.append((PROP_RPC_SECONDS, seconds - rpc_before[0]))
        request.node.user_properties.append((PROP_RPC_CALLS, calls - rpc_before[1]))
        for leak in leaks:
            request.node.user_properties.append((PROP_LEAK, leak.to_json()))
        sanity_session.leaks.extend(leaks)
    if leaks:
        raise AssertionError(
            "resource cleanup failed:\n"
            + "\n".join(f"  - {leak.id}: {leak.detail}" for leak in leaks)
        )


# --- the run lock (sanity/locks.py) ----------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    session = _state(item.config).session
    # A conditional counting case does not know yet whether it counts (its condition needs
    # the case's context): it takes the lock only when its body runs, if at all.
    if session is not None and _is_exclusive(item) and _exclusive_condition(item) is None:
        session.case_lock.try_exclusive_now()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A counting case takes the run lock exclusively at its first RPC: after its capability
    gates, so that a case skipped for a missing capability never stops the other workers."""
    session = _state(item.config).session
    armed = session is not None and _is_exclusive(item) and _counts_this_time(item)
    if session is not None and armed:
        session.case_lock.armed = True
    elif session is not None and session.case_lock.holds_exclusive:
        # Handed on by a counting case before it, but this one does not count: let the
        # other workers go on.
        session.case_lock.release_exclusive()
    try:
        yield
    finally:
        if session is not None and armed:
            session.case_lock.armed = False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield  # the case's cleanup (fixture teardown) runs here, still under the lock
    session = _state(item.config).session
    if session is None or not session.case_lock.holds_exclusive:
        return
    if not _is_exclusive(nextitem):
        session.case_lock.release_exclusive()
    # else: the next case of this worker counts too; it keeps the lock instead of queueing
    # behind the other workers' RPCs again.


# --- parallel runs (sanity/schedule.py) -----------------------------------------------------


def _is_sanity_run(config: pytest.Config) -> bool:
    return _command_line_mentions_csi(config) or bool(raw_settings(config).get("endpoint"))


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With `--dist load` (what `fsx-csi sanity -n N` passes), cases go out as workers come
    up, one slow case per worker at a time; other distribution modes are xdist's own."""
    if config.getoption("dist", None) != "load" or not _is_sanity_run(config):
        return None
    from sanity.schedule import WaitingScheduling, is_slow_case

    return WaitingScheduling(log.waitingsched if log is not None else print, is_slow_case)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` for a sanity run: a worker per case that provisions, not per core
    (sanity/schedule.py)."""
    if not _is_sanity_run(config):
        return None
    from sanity.schedule import auto_workers_for

    return auto_workers_for(raw_settings(config).get("profile"))


# --- reporting ------------------------------------------------------------------------------


def _message(report: pytest.TestReport) -> str:
    if report.outcome == "passed":
        return ""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash: Any = getattr(longrepr, "reprcrash", None)
    message = str(getattr(crash, "message", "") or "")
    if message:
        return message
    text = str(longrepr or "")
    return text[-2000:]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Runs in the process that prints the results: the only process without xdist, the
    # controller with it (workers forward their reports there).
    config = _CONFIG.get("config")
    if config is None or hasattr(config, "workerinput"):
        return
    state = _state(config)
    state.collector.add_report(
        report.nodeid,
        report.when,
        report.outcome,
        report.duration,
        _message(report),
        report.user_properties,
    )
    for key, value in report.user_properties:
        if key == PROP_RUN_ID and not state.collector.run_id:
            state.collector.run_id = str(value)


def _clean_open_contexts(state: PluginState, reason: str) -> list[Leak]:
    leaks: list[Leak] = []
    for context in list(state.open_contexts.values()):
        leaks.extend(context.close())
        state.open_contexts.pop(id(context), None)
    if leaks:
        for leak in leaks:
            state.collector.leaks.append(replace(leak, detail=f"{leak.detail} (during {reason})"))
    return leaks


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    config = _CONFIG.get("config")
    if config is None:
        return
    state = _state(config)
    if state.session is None and not state.collector.active:
        return
    state.collector.interrupted = True
    if state.open_contexts:
        print(
            f"\ncsi-sanity: interrupted; undoing what {len(state.open_contexts)} running case(s) "
            "created before exiting",
            file=sys.stderr,
        )
        _clean_open_contexts(state, "interrupt")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = _state(config)
    # Fixture teardown normally ran already; this catches cases whose teardown never ran.
    _clean_open_contexts(state, "session end")
    if state.session is not None:
        state.session.close()
    if hasattr(config, "workerinput") or not state.collector.active:
        return
    try:
        sanity_config = config_from_raw(raw_settings(config))
    except ConfigError:
        sanity_config = None
    if sanity_config is not None:
        state.collector.endpoint = sanity_config.endpoint
        state.collector.profile = sanity_config.profile
        if sanity_config.json_report:
            # Which driver answered: asked once more at the end, briefly (it may be gone).
            driver = ask_driver(sanity_config.endpoint, min(sanity_config.connect_timeout, 3.0))
            state.collector.write_json(sanity_config.json_report, driver)
    _remove_lock_dir(state.collector.run_id)


def _remove_lock_dir(run_id: str) -> None:
    if not run_id:
        return
    directory = default_lock_dir(run_id)
    for name in ("turnstile.lock", "cases.lock"):
        Path(directory, name).unlink(missing_ok=True)
    # Another process may still use it, or it never existed.
    with contextlib.suppress(OSError):
        Path(directory).rmdir()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = _state(config)
    collector = state.collector
    if hasattr(config, "workerinput") or not collector.active:
        return
    terminalreporter.write_sep("=", "csi-sanity summary per service")
    for line in collector.summary_lines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"time inside driver RPCs: {collector.rpc_seconds_total():.2f}s")
    if collector.leaks:
        terminalreporter.write_sep(
            "-", f"leak report: {len(collector.leaks)} resource(s) left behind"
        )
        for leak in collector.leaks:
            terminalreporter.write_line(f"{leak.id}: {leak.detail} (case {leak.test})")
    else:
        terminalreporter.write_line("leak report: empty (every created resource was cleaned up)")
    json_path = config.getoption("csi_json_report") or config.getini("csi_json_report")
    if json_path:
        terminalreporter.write_line(f"JSON result: {json_path}")
