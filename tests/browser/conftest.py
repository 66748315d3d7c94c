"""Fixtures for the browser tests: one backend, one static site server, Chromium.

* ``backend``/``endpoint`` (tests/conftest.py): the real RivetKit test backend, one per
  session; env ``RIVETKIT_TEST_ENDPOINT`` uses a running one instead.
* ``site_server``: builds site/ (site/build.py) and serves it with the backend endpoint
  (site/serve.py's ``StaticServer``), one per session; env ``RIVETKIT_SITE_URL`` uses a
  running ``python site/serve.py`` instead (pages then get ``?endpoint=`` so that they
  use the session's backend; set ``RIVETKIT_TEST_ENDPOINT`` to serve.py's backend to
  test that one, the restart test is then skipped).
* pytest-playwright's ``browser``/``context``/``page`` launched with the settings of
  playwright.config.py (system Chromium, flags, timeouts).
* ``open_chat(context=None)``: a demo page, loaded and ready (``body[data-ready=1]``).

Everything is stopped at session end, also when tests fail (fixtures' finally blocks,
plus the harness's own atexit/signal cleanup).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))  # support/ (also there when run from elsewhere)

from support.modules import load_file

pw_config = load_file("rivetkit_playwright_config", REPO / "playwright.config.py")


# -- servers ------------------------------------------------------------------------
# ``backend`` and ``endpoint`` (one real RivetKit backend per session) come from
# tests/conftest.py, shared with the other suites.


@pytest.fixture(scope="session")
def site_server(endpoint: str) -> Iterator[str]:
    """URL of the demo site (ends with /)."""
    running = pw_config.base_url()
    if running:
        yield running
        return
    load_file("rivetkit_site_build", REPO / "site" / "build.py").build(quiet=True)
    serve = load_file("rivetkit_site_serve", REPO / "site" / "serve.py")
    server = serve.StaticServer(endpoint=endpoint).start()
    try:
        yield server.url
    finally:
        server.stop()


# -- pytest-playwright wiring --------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    options = dict(browser_type_launch_args)
    configured = pw_config.launch_options()
    options["args"] = configured["args"] + list(options.get("args", []))
    options.setdefault("headless", configured["headless"])
    if "executable_path" in configured and "channel" not in options:
        options["executable_path"] = configured["executable_path"]
    return options


@pytest.fixture(scope="session")
def base_url(site_server: str) -> str:
    return site_server


@pytest.fixture(scope="session")
def page_url(site_server: str, endpoint: str) -> Callable[..., str]:
    """``page_url(room=None)``: the demo page URL for this session's backend."""
    external = bool(pw_config.base_url())

    def url(room: str | None = None) -> str:
        # Our own server tells the page the endpoint in /config.json; an external one
        # may know another backend, so say it in the URL.
        return pw_config.page_url(site_server, endpoint=endpoint if external else None, room=room)

    return url


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, **pw_config.context_options()}


@pytest.fixture
def context(new_context: Callable[..., Any]) -> Any:
    ctx = new_context()
    ctx.set_default_timeout(pw_config.ACTION_TIMEOUT_MS)
    ctx.set_default_navigation_timeout(pw_config.NAVIGATION_TIMEOUT_MS)
    return ctx


# -- demo pages ------------------------------------------------------------------------


def _watch_console(page: Any, sink: list[str]) -> None:
    page.on("console", lambda msg: sink.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda err: sink.append(f"pageerror: {err}"))

    def on_response(response: Any) -> None:
        if response.status >= 400:
            try:
                body = response.text()[:300]
            except Exception:  # noqa: BLE001 - body may be gone
                body = "?"
            sink.append(f"http {response.status} {response.request.method} {response.url} {body}")

    page.on("response", on_response)


@pytest.fixture
def open_chat(
    page_url: Callable[..., str],
    context: Any,
    new_context: Callable[..., Any],
    request: pytest.FixtureRequest,
) -> Callable[..., Any]:
    """``open_chat(ctx=None, room=None)`` -> a ready demo page (``page.ready_seconds`` set)."""
    logs: list[tuple[Any, list[str]]] = []

    def open_page(ctx: Any = None, *, room: str | None = None) -> Any:
        if ctx is None:
            ctx = context
        page = ctx.new_page()
        console: list[str] = []
        _watch_console(page, console)
        logs.append((page, console))
        started = time.monotonic()
        page.goto(page_url(room=room))
        page.wait_for_selector(
            "body[data-ready='1']", state="attached", timeout=pw_config.PAGE_READY_TIMEOUT_MS
        )
        page.ready_seconds = time.monotonic() - started  # type: ignore[attr-defined]
        return page

    def new_chat_context() -> Any:
        ctx = new_context()
        ctx.set_default_timeout(pw_config.ACTION_TIMEOUT_MS)
        return ctx

    open_page.new_context = new_chat_context  # type: ignore[attr-defined]
    yield open_page
    # On failure, show what the pages logged (Python tracebacks land in the console).
    rep = getattr(request.node, "rep_call", None)
    if (rep is not None and rep.failed) or pw_config.os.environ.get("RIVETKIT_SHOW_CONSOLE"):
        for i, (_page, console) in enumerate(logs):
            print(f"--- console of page {i} ---")
            print("\n".join(console[-80:]))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """``screenshot(page, name)`` saves test-results/browser/<name>.png."""

    def take(page: Any, name: str) -> Path:
        pw_config.SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = pw_config.SCREENSHOT_DIR / f"{name}.png"
        page.screenshot(path=str(path), animations="disabled")
        return path

    return take


@pytest.fixture(scope="session")
def pw() -> ModuleType:
    """playwright.config.py (browser settings, timeouts, URLs)."""
    return pw_config


@pytest.fixture(scope="session")
def run_python() -> Callable[[Any, str], Any]:
    """``run_python(page, code)``: run Python in the page's Pyodide (top-level await
    allowed) and return its last value (keep it JSON-friendly, e.g. ``json.dumps(...)``)."""

    def run(page: Any, code: str) -> Any:
        return page.evaluate("code => window.rivetkitDemo.pyodide.runPythonAsync(code)", code)

    return run
