"""Browser settings for rivetkit_web's browser tests (tests/browser/), as plain Python.

The file name has a dot, so load it by path (tests/browser/conftest.py does)::

    spec = importlib.util.spec_from_file_location("playwright_config", REPO / "playwright.config.py")

Nothing here starts a browser; it only says which one and how:

* :func:`chromium_executable` — env ``RIVETKIT_CHROMIUM`` if set, else Debian's
  ``/usr/bin/chromium`` or a ``chromium``/``chromium-browser`` on PATH, else ``None``
  (Playwright's own downloaded browser).
* :data:`LAUNCH_ARGS` — flags Chromium needs on this kind of machine: without the
  background-networking flags its own connections get refused en masse and disturb the
  page's; ``--no-sandbox`` because tests run as root.
* timeouts, viewport, where screenshots go, and :func:`base_url` (env
  ``RIVETKIT_SITE_URL`` to test an already running ``python site/serve.py``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent

#: Environment variable naming the Chromium binary to use.
CHROMIUM_ENV = "RIVETKIT_CHROMIUM"
#: Environment variable with the URL of a running demo site (skips the test server).
SITE_URL_ENV = "RIVETKIT_SITE_URL"
#: Environment variable with the endpoint of a running RivetKit backend (skips starting
#: one; read by tests/conftest.py).
ENDPOINT_ENV = "RIVETKIT_TEST_ENDPOINT"
#: Set to "0" to run headed (needs a display).
HEADLESS_ENV = "RIVETKIT_HEADLESS"

_SYSTEM_CHROMIUMS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
_PATH_CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: Chromium command-line flags (Playwright adds its own on top).
LAUNCH_ARGS: list[str] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # small /dev/shm in containers
    "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--disable-extensions",
    "--no-default-browser-check",
    "--mute-audio",
]

#: Time for the demo page to load Pyodide, PyScript and the wheel (body[data-ready=1]).
PAGE_READY_TIMEOUT_MS = 90_000
#: Default time for one Playwright action or expect() on the page.
ACTION_TIMEOUT_MS = 15_000
#: Default navigation timeout.
NAVIGATION_TIMEOUT_MS = 30_000
#: Time for a chat connection to be established. The local engine sometimes leaves a
#: WebSocket handshake hanging (seen with CPython's websockets too); the client then
#: retries after its connect timeout (8 s in the demo), so allow a few attempts.
CONNECT_TIMEOUT_MS = 45_000
#: Time for a connection to come back after the backend restarts or the network returns.
RECONNECT_TIMEOUT_MS = 90_000

VIEWPORT = {"width": 1100, "height": 800}
MOBILE_VIEWPORT = {"width": 390, "height": 760}

#: Where tests save screenshots (gitignored test-results/).
#: Env ``RIVETKIT_SCREENSHOT_DIR`` moves them (pytest-playwright empties test-results/
#: at the start of every pytest session, also one running beside yours).
SCREENSHOT_DIR = Path(os.environ.get("RIVETKIT_SCREENSHOT_DIR") or REPO / "test-results" / "browser")


def chromium_executable() -> str | None:
    """The Chromium binary to launch, or None for Playwright's bundled browser."""
    env = os.environ.get(CHROMIUM_ENV, "").strip()
    if env:
        found = shutil.which(env) if os.sep not in env else env
        if not found or not os.path.exists(found):
            raise FileNotFoundError(f"{CHROMIUM_ENV}={env!r} does not exist")
        return found
    for path in _SYSTEM_CHROMIUMS:
        if os.access(path, os.X_OK):
            return path
    for name in _PATH_CHROMIUMS:
        found = shutil.which(name)
        if found:
            return found
    return None


def headless() -> bool:
    return os.environ.get(HEADLESS_ENV, "1") != "0"


def launch_args() -> list[str]:
    args = list(LAUNCH_ARGS)
    if not headless():
        args.remove("--headless")
    return args


def launch_options() -> dict[str, Any]:
    """Keyword arguments for ``playwright.chromium.launch()``."""
    options: dict[str, Any] = {"args": launch_args(), "headless": headless()}
    executable = chromium_executable()
    if executable:
        options["executable_path"] = executable
    return options


def context_options() -> dict[str, Any]:
    """Keyword arguments for ``browser.new_context()``."""
    return {"viewport": dict(VIEWPORT), "locale": "en-US", "timezone_id": "UTC"}


def base_url(default: str | None = None) -> str | None:
    """URL of the demo site: env ``RIVETKIT_SITE_URL`` if set, else ``default``.

    Always ends with ``/`` so that relative page paths resolve inside the site.
    """
    url = os.environ.get(SITE_URL_ENV, "").strip() or default
    if url and not url.endswith("/"):
        url += "/"
    return url


def page_url(base: str, *, endpoint: str | None = None, room: str | None = None) -> str:
    """The demo page URL, optionally forcing the backend endpoint and a room."""
    from urllib.parse import quote

    url = base if base.endswith("/") else base + "/"
    if endpoint:
        url += "?endpoint=" + quote(endpoint, safe="")
    if room:
        url += "#room=" + quote(room, safe="")
    return url
