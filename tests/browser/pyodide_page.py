"""Shared helpers for the browser tests that run Python in the demo page's Pyodide.

* :func:`open_demo_page`: a new context and page on the demo, its console captured,
  loaded and ready (``body[data-ready='1']``); closed on exit.
* :func:`open_page_with_module`: the same, with a test file (e.g. tests/scenarios.py)
  written into the Pyodide FS, its directory on ``sys.path`` and the module imported.
* :class:`PyodidePage`: run Python in that page, count the browser transport's live JS
  proxies and open sockets, wait for them to settle, await a call with a report.
* :func:`scenario_cases`: the ``(name, encoding)`` parameters of a scenario table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

#: The demo page sets it once Pyodide and rivetkit_web are loaded.
PAGE_READY = "body[data-ready='1']"
_RUN_PYTHON = "code => window.rivetkitDemo.pyodide.runPythonAsync(code)"


def scenario_cases(
    names: Iterable[str],
    encodings: Iterable[str],
    xfail: dict[tuple[str, str | None], str],
) -> list[Any]:
    """``pytest.param(name, encoding, id="<encoding>-<name>")`` for every encoding and
    every (sorted) name; strict xfail for ``xfail[(name, encoding or None)]``."""
    cases = []
    for encoding in encodings:
        for name in sorted(names):
            reason = xfail.get((name, encoding)) or xfail.get((name, None))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(name, encoding, marks=marks, id=f"{encoding}-{name}"))
    return cases


def console_tail(console: list[str], since: int) -> str:
    """The last 30 console lines after ``since``, as an assertion message suffix."""
    lines = console[since:][-30:]
    return ("\n--- page console ---\n" + "\n".join(lines)) if lines else ""


@contextmanager
def open_demo_page(
    browser: Any,
    page_url: Any,
    pw: Any,
    *,
    page_errors: bool = True,
    dump_console: int = 0,
) -> Iterator[tuple[Any, list[str]]]:
    """A new context with the demo page loaded and ready; yields ``(page, console)``.

    ``page_errors``: also capture uncaught page errors in ``console``.
    ``dump_console``: on exit, print that many last console lines (0: none)."""
    context = browser.new_context(**pw.context_options())
    context.set_default_timeout(pw.ACTION_TIMEOUT_MS)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    if page_errors:
        page.on("pageerror", lambda err: console.append(f"pageerror: {err}"))
    try:
        page.goto(page_url())
        page.wait_for_selector(PAGE_READY, state="attached", timeout=pw.PAGE_READY_TIMEOUT_MS)
        yield page, console
    finally:
        if dump_console and console:
            print("\n".join(console[-dump_console:]))
        context.close()


@contextmanager
def open_page_with_module(
    browser: Any,
    page_url: Any,
    pw: Any,
    module_file: Path,
    page_dir: str,
    *,
    text: str | None = None,
    setup: str = "",
) -> Iterator[tuple[Any, list[str]]]:
    """:func:`open_demo_page` with ``module_file`` (its ``text`` if given, e.g. read at
    collection) written to ``page_dir`` in the Pyodide FS, ``page_dir`` put first on
    ``sys.path`` and the module imported from there; then ``setup`` (Python) is run in
    the same call. Yields ``(page, console)``."""
    name = module_file.stem
    if text is None:
        text = module_file.read_text(encoding="utf-8")
    with open_demo_page(browser, page_url, pw) as (page, console):
        page.evaluate(
            """([dir, file, text]) => {
                const FS = window.rivetkitDemo.pyodide.FS;
                FS.mkdirTree(dir);
                FS.writeFile(dir + "/" + file, text);
            }""",
            [page_dir, module_file.name, text],
        )
        page.evaluate(
            _RUN_PYTHON,
            f"import importlib, sys\n"
            f"sys.path.insert(0, {page_dir!r})\n"
            f"importlib.invalidate_caches()\n"
            f"import {name}\n"
            f"assert {name}.__file__.startswith({page_dir!r}), {name}.__file__\n" + setup,
        )
        yield page, console


class PyodidePage:
    """A demo page (see :func:`open_page_with_module`) driven from the test process.

    ``baseline``: the browser transport's resources when the object was made;
    ``imports``, ``timeout_s``, ``settle_s``: the defaults of :meth:`run` and
    :meth:`settle`."""

    def __init__(
        self,
        page: Any,
        console: list[str],
        *,
        imports: str = "",
        timeout_s: float = 90.0,
        settle_s: float = 5.0,
    ) -> None:
        self.page = page
        self.console = console
        self.imports = imports
        self.timeout_s = timeout_s
        self.settle_s = settle_s
        self.baseline = self.resources()

    def python(self, code: str) -> Any:
        """Run ``code`` in the page's Pyodide (top-level await allowed); its last value."""
        return self.page.evaluate(_RUN_PYTHON, code)

    def resources(self) -> tuple[int, int]:
        """(live JS proxies, open sockets) of the browser transport."""
        proxies, sockets = json.loads(
            self.python(
                "import json\n"
                "from rivetkit_web.transport.browser import live_proxy_count, open_sockets\n"
                "json.dumps([live_proxy_count(), len(open_sockets())])\n"
            )
        )
        return proxies, sockets

    def settle(self, target: tuple[int, int], seconds: float | None = None) -> tuple[int, int]:
        """Wait (up to ``seconds``, default ``settle_s``) for the resources to come back
        to ``target``; the last resources seen."""
        deadline = time.monotonic() + (self.settle_s if seconds is None else seconds)
        while True:
            now = self.resources()
            if now == target or time.monotonic() > deadline:
                return now
            self.page.wait_for_timeout(100)

    def run(
        self,
        call: str,
        imports: str | None = None,
        *,
        timeout_s: float | None = None,
        **values: Any,
    ) -> dict[str, Any]:
        """Await ``call`` (an expression over ``values``, after ``imports``) in the page,
        bounded by ``timeout_s`` (defaults: the page's); returns
        ``{"ok", "seconds", "traceback"?, "value"?}`` (the value must be JSON-friendly)."""
        imports = self.imports if imports is None else imports
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        assigns = "".join(f"    {name} = {value!r}\n" for name, value in values.items())
        code = f"""
import asyncio, json, traceback
{imports}

async def _rivetkit_call():
{assigns}    return await {call}

async def _rivetkit_report():
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        value = await asyncio.wait_for(_rivetkit_call(), {timeout_s!r})
    except BaseException:
        return {{"ok": False, "traceback": traceback.format_exc(),
                 "seconds": loop.time() - started}}
    return {{"ok": True, "value": value, "seconds": loop.time() - started}}

json.dumps(await _rivetkit_report())
"""
        return json.loads(self.python(code))
