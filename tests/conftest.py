"""Test-session fixtures shared by every suite: one real RivetKit backend per session.

The backend (``tests/backend``: node + rivetkit + a real rivet-engine) starts once,
on a free port with a temporary HOME, and is torn down at the end of the session,
on failure and on Ctrl-C (the harness also kills the engine's own process group).
Set ``RIVETKIT_TEST_ENDPOINT`` to run against a backend you started yourself.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(TESTS_DIR, "backend"))
sys.path.insert(0, TESTS_DIR)

from harness import Backend  # noqa: E402


@pytest.fixture(scope="session")
def backend() -> Iterator[Backend | None]:
    """The session's backend, or None when RIVETKIT_TEST_ENDPOINT names an external one."""
    if os.environ.get("RIVETKIT_TEST_ENDPOINT"):
        yield None
        return
    server = Backend()
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def endpoint(backend: Backend | None) -> str:
    return os.environ.get("RIVETKIT_TEST_ENDPOINT") or backend.endpoint  # type: ignore[union-attr]


@pytest.fixture
def uid() -> str:
    """A unique string for actor keys, so tests never share actors."""
    return uuid.uuid4().hex[:12]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last.

    Playwright's sync API keeps an event loop running in the main thread for the rest
    of the session once a browser starts, and asyncio tests cannot start their own
    loop after that. Everything else goes first, in its usual order.
    """
    browser_dir = os.path.join(TESTS_DIR, "browser") + os.sep
    items.sort(key=lambda item: str(item.path).startswith(browser_dir))
