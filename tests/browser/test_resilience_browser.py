"""The shared fault scenarios (tests/fault_scenarios.py) in Pyodide in Chromium.

``tests/integration/test_resilience.py`` runs every fault scenario on CPython; this
module puts a :class:`~support.proxy.ThreadedFaultProxy` (its own thread and loop:
Playwright's sync API holds the main thread) between Chromium and the real backend,
loads the very same scenario file into the demo page's Pyodide and runs every scenario
there with a client whose endpoint is the proxy. The page breaks the network itself,
through the proxy's HTTP control API (``pyfetch``; CORS allowed). In the browser a cut
TCP connection surfaces as close 1006 and a refused handshake as a bare ``error``
event: the client must recover from both just the same.

One page serves the whole module (Pyodide boots once; the demo's own chat talks to the
backend directly, not through the proxy). After the scenarios, the live JS proxies and
open sockets of ``rivetkit_web.transport.browser`` must be back to their baseline, and
so after 200 connect/ready/dispose cycles.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fault_scenarios import FAULT_SCENARIOS
from pyodide_page import (
    PyodidePage,
    console_tail,
    open_page_with_module,
    scenario_cases,
)
from support.proxy import ThreadedFaultProxy

pytestmark = pytest.mark.browser

FAULTS_FILE = Path(__file__).resolve().parents[1] / "fault_scenarios.py"
#: Read at collection, next to the import above, so the page runs the file whose
#: scenario names were collected.
FAULTS_TEXT = FAULTS_FILE.read_text(encoding="utf-8")
#: Where the page's Pyodide gets tests/fault_scenarios.py (a directory on sys.path).
PAGE_DIR = "/home/pyodide/rivetkit_fault_tests"

ENCODINGS = ["json", "bare"]
#: Upper bound for one scenario inside the page (each one normally takes < 6 s).
SCENARIO_TIMEOUT_S = 90.0
#: How long the leak checks wait for late close events and releases.
SETTLE_S = 5.0
#: connect/ready/dispose cycles of the leak test.
CYCLES = 200

#: Cases known to fail in the browser only: ``{(scenario, encoding or None): reason}``.
XFAIL: dict[tuple[str, str | None], str] = {}

# case -> (proxies, sockets) it left behind right after running (before settling).
_left_behind: dict[str, tuple[int, int]] = {}


def _cases() -> list[Any]:
    return scenario_cases(FAULT_SCENARIOS, ENCODINGS, XFAIL)


class FaultPage(PyodidePage):
    """The demo page with tests/fault_scenarios.py importable in its Pyodide."""

    def __init__(self, page: Any, console: list[str], proxy: ThreadedFaultProxy) -> None:
        self.proxy = proxy
        super().__init__(
            page,
            console,
            imports="import fault_scenarios\nfrom rivetkit_web import create_client",
            timeout_s=SCENARIO_TIMEOUT_S,
            settle_s=SETTLE_S,
        )


# Defined in the page once the file is imported (see fault_page).
PAGE_HELPERS = """
import asyncio
import fault_scenarios
from rivetkit_web import create_client
from rivetkit_web.transport.browser import live_proxy_count, open_sockets


async def _rivetkit_fault_scenario(name, encoding, endpoint, control_url, uid):
    faults = fault_scenarios.Faults(control_url, endpoint)
    await faults.reset()
    async with create_client(endpoint, encoding=encoding, timeout=30) as client:
        # the point of this module: the browser transport, not a fallback
        transport = type(getattr(client, "_transport", None))
        assert transport.__module__ == "rivetkit_web.transport.browser", transport
        await fault_scenarios.FAULT_SCENARIOS[name](client, uid, faults)
    stats = await faults.stats()
    assert not stats["refuse"] and not stats["stall"], f"a fault was left on: {stats}"


async def _rivetkit_cycles(endpoint, uid, cycles):
    def resources():
        return [live_proxy_count(), len(open_sockets())]

    async with create_client(endpoint, timeout=30) as client:
        handle = client.counter.get_or_create(["cycles", uid])
        await handle.increment(1)  # warm: actor created
        await asyncio.sleep(0.2)
        before = resources()
        tasks_before = len(asyncio.all_tasks())
        peak = before
        for _ in range(cycles):
            conn = handle.connect()
            conn.on("newCount", lambda *_: None)
            await conn.ready(timeout=30)
            peak = [max(a, b) for a, b in zip(peak, resources())]
            await conn.dispose()
        right_after = resources()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while (resources() != before or len(asyncio.all_tasks()) > tasks_before) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        assert not client._conns, "the client still tracks disposed connections"
        return {"before": before, "peak": peak, "right_after": right_after,
                "after": resources(), "tasks_before": tasks_before,
                "tasks_after": len(asyncio.all_tasks())}
"""


@pytest.fixture(scope="module")
def fault_proxy(endpoint: str) -> Iterator[ThreadedFaultProxy]:
    target = urlsplit(endpoint)
    with ThreadedFaultProxy(target.hostname or "127.0.0.1", target.port or 80) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def fault_page(browser: Any, page_url: Any, pw: Any, fault_proxy: ThreadedFaultProxy) -> Iterator[FaultPage]:
    # the demo itself talks to the backend directly
    with open_page_with_module(
        browser, page_url, pw, FAULTS_FILE, PAGE_DIR, text=FAULTS_TEXT, setup=PAGE_HELPERS
    ) as (page, console):
        yield FaultPage(page, console, fault_proxy)


@pytest.fixture(autouse=True)
def _faults_off(fault_proxy: ThreadedFaultProxy) -> Iterator[None]:
    fault_proxy.reset()
    yield
    fault_proxy.reset()  # also after a failed case


@pytest.mark.parametrize(("name", "encoding"), _cases())
def test_fault_scenario_in_browser(fault_page: FaultPage, name: str, encoding: str, uid: str) -> None:
    mark = len(fault_page.console)
    before = fault_page.resources()
    result = fault_page.run(
        "_rivetkit_fault_scenario(name, encoding, endpoint, control_url, uid)",
        name=name, encoding=encoding, endpoint=fault_page.proxy.endpoint,
        control_url=fault_page.proxy.control_url, uid=uid,
    )
    after = fault_page.resources()
    if after != before:
        _left_behind[f"{encoding}-{name}"] = (after[0] - before[0], after[1] - before[1])
    assert result["ok"], (
        f"fault scenario {name!r} ({encoding}) failed in Pyodide after {result['seconds']:.2f} s:\n"
        f"{result['traceback']}{console_tail(fault_page.console, mark)}"
    )


def test_no_leaked_proxies_or_sockets_after_faults(fault_page: FaultPage) -> None:
    """After every fault scenario: all JS proxies destroyed, no socket left open, and
    no WebSocket still open through the proxy."""
    proxies, sockets = fault_page.settle(fault_page.baseline)
    base_proxies, base_sockets = fault_page.baseline
    detail = f"; (proxies, sockets) left right after each case: {_left_behind}" if _left_behind else ""
    assert proxies == base_proxies, f"live_proxy_count() {proxies}, baseline {base_proxies}{detail}"
    assert sockets == base_sockets, f"open_sockets() {sockets}, baseline {base_sockets}{detail}"


def test_no_leaks_after_many_connect_dispose_cycles(fault_page: FaultPage, uid: str) -> None:
    """200 connect/ready/dispose cycles through the proxy: the page's live JS proxies,
    open sockets and asyncio tasks come back to where they were, and the proxy sees
    no connection left open but the browser's pooled HTTP ones."""
    baseline = fault_page.settle(fault_page.baseline)
    accepted_before = fault_page.proxy.accepted
    result = fault_page.run(
        "_rivetkit_cycles(endpoint, uid, cycles)",
        endpoint=fault_page.proxy.endpoint, uid=uid, cycles=CYCLES,
    )
    assert result["ok"], f"the cycles failed in Pyodide:\n{result['traceback']}"
    report = result["value"]
    assert report["peak"][1] <= report["before"][1] + 1, f"sockets piled up: {report}"
    assert report["after"] == report["before"], f"JS proxies/sockets not released: {report}"
    assert report["tasks_after"] <= report["tasks_before"], f"tasks left behind: {report}"
    assert fault_page.settle(baseline) == baseline
    assert fault_page.proxy.accepted >= accepted_before + CYCLES, "the cycles bypassed the proxy"
    # Chromium keeps up to 6 idle HTTP connections per host; every WebSocket is closed.
    deadline = time.monotonic() + SETTLE_S
    while fault_page.proxy.open_connections > 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fault_page.proxy.open_connections <= 6, fault_page.proxy.stats()
