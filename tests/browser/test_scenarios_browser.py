"""The shared feature scenarios (tests/scenarios.py) in Pyodide in Chromium.

``tests/integration/test_scenarios.py`` runs every scenario on CPython (native
transport); this module loads the very same file into the demo page's Pyodide and runs
every scenario there, so the browser transport (``rivetkit_web/transport/browser.py``)
is held to the same assertions. One page serves the whole module (Pyodide boots once);
each case gets a fresh client and a fresh uid. A failure carries the Python traceback
from the page. The last test checks that the scenarios left no JS proxy and no open
socket behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyodide_page import (
    PyodidePage,
    console_tail,
    open_page_with_module,
    scenario_cases,
)
from scenarios import SCENARIOS

pytestmark = pytest.mark.browser

SCENARIOS_FILE = Path(__file__).resolve().parents[1] / "scenarios.py"
#: Read at collection, next to the import above, so the page runs the file whose
#: scenario names were collected.
SCENARIOS_TEXT = SCENARIOS_FILE.read_text(encoding="utf-8")
#: Where the page's Pyodide gets tests/scenarios.py (a directory put on sys.path).
PAGE_DIR = "/home/pyodide/rivetkit_tests"

ENCODINGS = ["json", "cbor", "bare"]
#: Upper bound for one scenario inside the page (each one normally takes < 5 s).
SCENARIO_TIMEOUT_S = 90.0
#: How long the leak check waits for late close events and releases.
SETTLE_S = 5.0

#: Cases known to fail in the browser only for a reason outside browser.py:
#: ``{(scenario, encoding or None for all): reason}``.
XFAIL: dict[tuple[str, str | None], str] = {}

# Filled by the cases, read by the leak check to name the culprits:
# case -> (proxies, sockets) it left behind right after running (before any settling).
_left_behind: dict[str, tuple[int, int]] = {}


def _cases() -> list[Any]:
    return scenario_cases(SCENARIOS, ENCODINGS, XFAIL)


# Defined in the page once the file is imported (see scenario_page).
PAGE_HELPERS = """
import scenarios
from rivetkit_web import create_client


async def _rivetkit_run_scenario(name, encoding, endpoint, uid):
    async with create_client(endpoint, encoding=encoding, timeout=30) as client:
        # the point of this module: the browser transport, not a fallback
        transport = type(getattr(client, "_transport", None))
        assert transport.__module__ == "rivetkit_web.transport.browser", transport
        await scenarios.SCENARIOS[name](client, uid)
"""


class ScenarioPage(PyodidePage):
    """The demo page with tests/scenarios.py importable in its Pyodide."""

    def __init__(self, page: Any, console: list[str]) -> None:
        super().__init__(page, console, timeout_s=SCENARIO_TIMEOUT_S, settle_s=SETTLE_S)

    def run_scenario(
        self, name: str, encoding: str, endpoint: str, uid: str
    ) -> dict[str, Any]:
        return self.run(
            "_rivetkit_run_scenario(name, encoding, endpoint, uid)",
            name=name,
            encoding=encoding,
            endpoint=endpoint,
            uid=uid,
        )


@pytest.fixture(scope="module")
def scenario_page(browser: Any, page_url: Any, pw: Any) -> Iterator[ScenarioPage]:
    with open_page_with_module(
        browser, page_url, pw, SCENARIOS_FILE, PAGE_DIR,
        text=SCENARIOS_TEXT, setup=PAGE_HELPERS,
    ) as (page, console):
        yield ScenarioPage(page, console)


@pytest.mark.parametrize(("name", "encoding"), _cases())
def test_scenario_in_browser(
    scenario_page: ScenarioPage, name: str, encoding: str, endpoint: str, uid: str
) -> None:
    mark = len(scenario_page.console)
    before = scenario_page.resources()
    result = scenario_page.run_scenario(name, encoding, endpoint, uid)
    after = scenario_page.resources()
    if after != before:
        _left_behind[f"{encoding}-{name}"] = (
            after[0] - before[0],
            after[1] - before[1],
        )
    assert result["ok"], (
        f"scenario {name!r} ({encoding}) failed in Pyodide after {result['seconds']:.2f} s:\n"
        f"{result['traceback']}{console_tail(scenario_page.console, mark)}"
    )


def test_no_leaked_proxies_or_sockets(scenario_page: ScenarioPage) -> None:
    """After every scenario: all JS proxies destroyed, no socket left open."""
    proxies, sockets = scenario_page.settle(scenario_page.baseline)
    base_proxies, base_sockets = scenario_page.baseline
    detail = (
        f"; (proxies, sockets) left right after each case: {_left_behind}"
        if _left_behind
        else ""
    )
    assert proxies == base_proxies, (
        f"live_proxy_count() {proxies}, baseline {base_proxies}{detail}"
    )
    assert sockets == base_sockets, (
        f"open_sockets() {sockets}, baseline {base_sockets}{detail}"
    )
