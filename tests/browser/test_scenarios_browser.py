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

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
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
    cases = []
    for encoding in ENCODINGS:
        for name in sorted(SCENARIOS):
            reason = XFAIL.get((name, encoding)) or XFAIL.get((name, None))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(
                pytest.param(name, encoding, marks=marks, id=f"{encoding}-{name}")
            )
    return cases


class ScenarioPage:
    """The demo page with tests/scenarios.py importable in its Pyodide."""

    def __init__(self, page: Any, console: list[str]) -> None:
        self.page = page
        self.console = console
        self.baseline = self.resources()

    def python(self, code: str) -> Any:
        return self.page.evaluate(
            "code => window.rivetkitDemo.pyodide.runPythonAsync(code)", code
        )

    def resources(self) -> tuple[int, int]:
        """(live JS proxies, open sockets) of the browser transport."""
        return tuple(
            json.loads(
                self.python(
                    "import json\n"
                    "from rivetkit_web.transport.browser import live_proxy_count, open_sockets\n"
                    "json.dumps([live_proxy_count(), len(open_sockets())])\n"
                )
            )
        )

    def run_scenario(
        self, name: str, encoding: str, endpoint: str, uid: str
    ) -> dict[str, Any]:
        code = f"""
import asyncio, json, traceback
import scenarios
from rivetkit_web import create_client

async def _rivetkit_run_scenario(name, encoding, endpoint, uid):
    async with create_client(endpoint, encoding=encoding, timeout=30) as client:
        # the point of this module: the browser transport, not a fallback
        transport = type(getattr(client, "_transport", None))
        assert transport.__module__ == "rivetkit_web.transport.browser", transport
        await scenarios.SCENARIOS[name](client, uid)

async def _rivetkit_report():
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await asyncio.wait_for(
            _rivetkit_run_scenario({name!r}, {encoding!r}, {endpoint!r}, {uid!r}),
            {SCENARIO_TIMEOUT_S!r},
        )
    except BaseException:
        return {{"ok": False, "traceback": traceback.format_exc(),
                 "seconds": loop.time() - started}}
    return {{"ok": True, "seconds": loop.time() - started}}

json.dumps(await _rivetkit_report())
"""
        return json.loads(self.python(code))


@pytest.fixture(scope="module")
def scenario_page(browser: Any, page_url: Any, pw: Any) -> Iterator[ScenarioPage]:
    context = browser.new_context(**pw.context_options())
    context.set_default_timeout(pw.ACTION_TIMEOUT_MS)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda err: console.append(f"pageerror: {err}"))
    try:
        page.goto(page_url())
        page.wait_for_selector(
            "body[data-ready='1']", state="attached", timeout=pw.PAGE_READY_TIMEOUT_MS
        )
        page.evaluate(
            """([dir, text]) => {
                const FS = window.rivetkitDemo.pyodide.FS;
                FS.mkdirTree(dir);
                FS.writeFile(dir + "/scenarios.py", text);
            }""",
            [PAGE_DIR, SCENARIOS_TEXT],
        )
        page.evaluate(
            "code => window.rivetkitDemo.pyodide.runPythonAsync(code)",
            f"import importlib, sys\n"
            f"sys.path.insert(0, {PAGE_DIR!r})\n"
            f"importlib.invalidate_caches()\n"
            f"import scenarios\n"
            f"assert scenarios.__file__.startswith({PAGE_DIR!r}), scenarios.__file__\n",
        )
        yield ScenarioPage(page, console)
    finally:
        context.close()


def _console_tail(console: list[str], since: int) -> str:
    lines = console[since:][-30:]
    return ("\n--- page console ---\n" + "\n".join(lines)) if lines else ""


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
        f"{result['traceback']}{_console_tail(scenario_page.console, mark)}"
    )


def test_no_leaked_proxies_or_sockets(scenario_page: ScenarioPage) -> None:
    """After every scenario: all JS proxies destroyed, no socket left open."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        now = scenario_page.resources()
        if now == scenario_page.baseline or time.monotonic() > deadline:
            break
        scenario_page.page.wait_for_timeout(100)
    proxies, sockets = now
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
