"""The chat demo (site/) in Chromium against the real backend, as a person uses it."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

_REPO = Path(__file__).resolve().parents[2]
_INIT = _REPO / "rivetkit_web" / "__init__.py"
if not (
    (_REPO / "rivetkit_web" / "client.py").exists()
    and _INIT.exists()
    and "create_client" in _INIT.read_text(encoding="utf-8")
):
    pytest.skip(
        "rivetkit_web's API layer (rivetkit_web/client.py + create_client) does not exist yet",
        allow_module_level=True,
    )

from playwright.sync_api import expect  # noqa: E402

BADGE = '[data-testid="status-badge"]'
MESSAGES = '[data-testid="message-item"]'
ERRORS = '[data-testid="error-item"]'


def room_name() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


def join(page: Any, name: str, room: str, pw: Any, *, wait_connected: bool = True) -> None:
    page.get_by_test_id("name-input").fill(name)
    page.get_by_test_id("room-input").fill(room)
    page.get_by_test_id("join-button").click()
    expect(page.get_by_test_id("room-title")).to_have_text(room)
    if wait_connected:
        expect(page.locator(BADGE)).to_have_attribute(
            "data-status", "connected", timeout=pw.CONNECT_TIMEOUT_MS
        )


def send(page: Any, text: str) -> None:
    box = page.get_by_test_id("message-input")
    box.fill(text)
    page.get_by_test_id("send-button").click()


def texts(page: Any) -> list[str]:
    return page.locator(f'{MESSAGES} [data-testid="message-text"]').all_inner_texts()


def live_proxies(page: Any, run_python: Any) -> int:
    return int(
        run_python(
            page,
            "from rivetkit_web.transport.browser import live_proxy_count\nlive_proxy_count()",
        )
    )


def wait_proxies(page: Any, run_python: Any, expected: int, timeout_s: float = 5.0) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        n = live_proxies(page, run_python)
        if n == expected or time.monotonic() > deadline:
            return n
        page.wait_for_timeout(100)


def test_page_loads_and_connects(
    open_chat: Any, pw: Any, run_python: Any, screenshot: Any, endpoint: str
) -> None:
    page = open_chat()
    print(f"page ready in {page.ready_seconds:.2f} s "
          f"(Python up at {page.evaluate('document.body.dataset.readyMs')} ms after navigation start)")
    assert page.ready_seconds < pw.PAGE_READY_TIMEOUT_MS / 1000
    expect(page.locator(BADGE)).to_have_attribute("data-status", "idle")
    expect(page.get_by_test_id("join-button")).to_be_enabled()
    expect(page.get_by_test_id("endpoint")).to_have_text(f"endpoint: {endpoint}")
    screenshot(page, "01-join")

    room = room_name()
    join(page, "Ada", room, pw)
    expect(page.locator(BADGE)).to_contain_text("Connected")
    expect(page.get_by_test_id("empty-note")).to_be_visible()
    # one open socket = 4 live JS proxies (open/message/error/close listeners)
    assert wait_proxies(page, run_python, 4) == 4
    assert page.evaluate("location.hash") == f"#room={room}"
    send(page, "Hello from Python in the browser!")
    expect(page.locator(MESSAGES)).to_have_count(1)
    expect(page.get_by_test_id("message-input")).to_have_value("")
    screenshot(page, "02-connected")


def test_two_users_see_each_other_live(open_chat: Any, pw: Any, screenshot: Any) -> None:
    room = room_name()
    alice = open_chat()
    bob = open_chat(open_chat.new_context())
    join(alice, "Alice", room, pw)
    join(bob, "Bob", room, pw)

    send(alice, "hi Bob 👋")
    expect(bob.locator(MESSAGES)).to_have_count(1)
    expect(bob.locator(MESSAGES).first).to_have_attribute("data-sender", "Alice")
    expect(bob.locator(MESSAGES).first).to_contain_text("hi Bob 👋")

    send(bob, "hi Alice! how is Pyodide treating you?")
    send(alice, "Splendidly — every byte of this chat goes through Python.")
    for page in (alice, bob):
        expect(page.locator(MESSAGES)).to_have_count(3)
        assert texts(page) == [
            "hi Bob 👋",
            "hi Alice! how is Pyodide treating you?",
            "Splendidly — every byte of this chat goes through Python.",
        ]
    # own messages are on the right, the others' on the left
    expect(alice.locator(f"{MESSAGES}.mine")).to_have_count(2)
    expect(bob.locator(f"{MESSAGES}.mine")).to_have_count(1)
    screenshot(alice, "03-alice")
    screenshot(bob, "03-bob")


def test_history_shown_on_join(open_chat: Any, pw: Any) -> None:
    room = room_name()
    first = open_chat()
    join(first, "Early", room, pw)
    for i in range(3):
        send(first, f"message {i}")
        expect(first.locator(MESSAGES)).to_have_count(i + 1)

    late = open_chat(open_chat.new_context(), room=room)
    # the room comes from the URL (#room=...)
    expect(late.get_by_test_id("room-input")).to_have_value(room)
    join(late, "Late", room, pw)
    expect(late.locator(MESSAGES)).to_have_count(3)
    assert texts(late) == ["message 0", "message 1", "message 2"]

    # leaving and joining again shows the same history, without duplicates
    late.get_by_test_id("leave-button").click()
    expect(late.locator(BADGE)).to_have_attribute("data-status", "idle")
    join(late, "Late", room, pw)
    expect(late.locator(MESSAGES)).to_have_count(3)


def test_errors_are_shown_in_the_page(open_chat: Any, pw: Any, screenshot: Any) -> None:
    page = open_chat()
    join(page, "Eve", room_name(), pw)

    too_long = "x" * 2001
    send(page, too_long)
    error = page.locator(ERRORS).last
    expect(error).to_be_visible()
    expect(error).to_have_attribute("data-code", "user.invalid_message")
    expect(error).to_contain_text("at most 2000 characters")
    # the text is given back so it can be fixed
    expect(page.get_by_test_id("message-input")).to_have_value(too_long)
    expect(page.get_by_test_id("char-counter")).to_have_text("2001/2000")
    screenshot(page, "04-error")

    send(page, "")
    expect(page.locator(ERRORS)).to_have_count(2)
    expect(page.locator(ERRORS).last).to_contain_text("non-empty")
    expect(page.locator(MESSAGES)).to_have_count(0)

    # errors can be dismissed; the connection is unaffected
    page.locator(f"{ERRORS} button").first.click()
    expect(page.locator(ERRORS)).to_have_count(1)
    expect(page.locator(BADGE)).to_have_attribute("data-status", "connected")
    send(page, "fine now")
    expect(page.locator(MESSAGES)).to_have_count(1)


def test_reconnects_after_network_drop_and_fills_the_gap(
    open_chat: Any, pw: Any, run_python: Any, screenshot: Any
) -> None:
    room = room_name()
    ctx_a = open_chat.new_context()
    alice = open_chat(ctx_a)
    bob = open_chat(open_chat.new_context())
    join(alice, "Alice", room, pw)
    join(bob, "Bob", room, pw)
    send(alice, "before the drop")
    expect(bob.locator(MESSAGES)).to_have_count(1)

    # Alice's network goes away: her socket drops, reconnects cannot get through.
    ctx_a.set_offline(True)
    alice.evaluate("window.rivetkitDemo.dropConnection()")
    expect(alice.locator(BADGE)).to_have_attribute("data-status", "offline")
    screenshot(alice, "05-offline")

    send(bob, "sent while Alice was away")
    expect(bob.locator(MESSAGES)).to_have_count(2)

    ctx_a.set_offline(False)
    expect(alice.locator(BADGE)).to_have_attribute(
        "data-status", "connected", timeout=pw.RECONNECT_TIMEOUT_MS
    )
    # history is fetched again after the reconnect: the gap is filled
    expect(alice.locator(MESSAGES)).to_have_count(2)
    assert texts(alice) == ["before the drop", "sent while Alice was away"]
    # live events work again, and the old socket's proxies are gone
    send(bob, "welcome back")
    expect(alice.locator(MESSAGES)).to_have_count(3)
    assert wait_proxies(alice, run_python, 4) == 4


def test_reconnects_after_backend_restart(
    open_chat: Any, pw: Any, backend: Any, run_python: Any, screenshot: Any
) -> None:
    if backend is None:
        pytest.skip("needs the session's own backend to restart it")
    room = room_name()
    page = open_chat()
    join(page, "Grace", room, pw)
    send(page, "before the restart")
    expect(page.locator(MESSAGES)).to_have_count(1)

    seen: list[str] = []
    page.expose_function("recordStatus", lambda s: seen.append(s))
    page.evaluate(
        """() => new MutationObserver(() => window.recordStatus(
              document.querySelector('[data-testid="status-badge"]').dataset.status))
            .observe(document.querySelector('[data-testid="status-badge"]'),
                     {attributes: true, attributeFilter: ['data-status']})"""
    )
    backend.restart()  # same port and data; the engine drops every connection
    expect(page.locator(BADGE)).to_have_attribute(
        "data-status", "connected", timeout=pw.RECONNECT_TIMEOUT_MS
    )
    assert "reconnecting" in seen, seen
    screenshot(page, "06-after-restart")

    send(page, "after the restart")
    expect(page.locator(MESSAGES)).to_have_count(2)
    assert texts(page) == ["before the restart", "after the restart"]
    assert wait_proxies(page, run_python, 4) == 4
    errors = page.locator(ERRORS).all_inner_texts()
    print("errors shown during the restart:", json.dumps(errors))


def test_small_screen_layout(open_chat: Any, pw: Any, screenshot: Any) -> None:
    ctx = open_chat.new_context()
    page = open_chat(ctx)
    page.set_viewport_size(pw.MOBILE_VIEWPORT)
    join(page, "Mobile", room_name(), pw)
    send(page, "Typing on a phone. " * 6)
    expect(page.locator(MESSAGES)).to_have_count(1)
    # nothing overflows horizontally
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    box = page.get_by_test_id("send-button").bounding_box()
    assert box is not None and box["x"] + box["width"] <= pw.MOBILE_VIEWPORT["width"]
    screenshot(page, "07-mobile")


def test_leave_releases_the_connection(open_chat: Any, pw: Any, run_python: Any) -> None:
    page = open_chat()
    room = room_name()
    join(page, "Leaver", room, pw)
    assert wait_proxies(page, run_python, 4) == 4
    page.get_by_test_id("leave-button").click()
    expect(page.locator(BADGE)).to_have_attribute("data-status", "idle")
    expect(page.get_by_test_id("join-button")).to_be_visible()
    # conn.dispose() must close the socket: no listener proxies stay behind
    assert wait_proxies(page, run_python, 0) == 0
    # joining again works and holds exactly one socket
    join(page, "Leaver", room, pw)
    assert wait_proxies(page, run_python, 4) == 4
