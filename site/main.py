"""Actor Chat: the rivetkit_web browser demo (PyScript, runs on the page's main thread).

A chat room is a RivetKit actor ``chatRoom`` keyed ``["demo", room]``:

* history: action ``getHistory()`` over HTTP on join and after every (re)connect, so
  messages sent while we were away fill in;
* sending: action ``sendMessage(name, text)`` over the connection;
* live messages: event ``newMessage(message)``;
* the badge follows the connection status, the client reconnects by itself.

Test hooks: ``document.body.dataset.ready == "1"`` once Python is up;
``window.rivetkitDemo.pyodide`` (the Pyodide API, for ``runPythonAsync``) and
``window.rivetkitDemo.dropConnection()`` (drops the WebSocket as a network failure would).
"""

import asyncio
import bisect

import js
import pyodide_js
from pyodide.ffi import create_proxy, to_js

try:
    from rivetkit_web import ActorError, create_client
except Exception as exc:  # the page still starts and tells what is wrong
    ActorError = None
    create_client = None
    IMPORT_ERROR = exc
else:
    IMPORT_ERROR = None

DEFAULT_ENDPOINT = "http://127.0.0.1:6420"
MAX_TEXT = 2000  # the chatRoom actor rejects longer texts (invalid_message)
SEND_TIMEOUT = 30.0
CONNECT_TIMEOUT = 8.0
ERROR_TTL_MS = 15000
NAME_KEY = "rivetkit-demo-name"

document = js.document
_proxies = []  # page-lifetime event handlers
_tasks = set()


def by_id(element_id):
    return document.getElementById(element_id)


def js_obj(**kwargs):
    return to_js(kwargs, dict_converter=js.Object.fromEntries)


def listen(target, event, handler):
    proxy = create_proxy(handler)
    _proxies.append(proxy)
    target.addEventListener(event, proxy)


def spawn(coro):
    task = asyncio.ensure_future(coro)
    _tasks.add(task)
    task.add_done_callback(_task_done)
    return task


def _task_done(task):
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        show_error(task.exception())


# -- errors --------------------------------------------------------------------


def describe(err):
    if ActorError is not None and isinstance(err, ActorError):
        return f"{err.group}.{err.code}", err.message
    if isinstance(err, (asyncio.TimeoutError, TimeoutError)):
        return "timeout", "The server did not answer in time."
    name = type(err).__name__
    return name, str(err) or name


def show_error(err, code=None, kind="action"):
    """Show an error in the page. ``kind="connection"`` errors go away on reconnect."""
    if isinstance(err, str):
        label, text = code or "error", err
    else:
        label, text = describe(err)
    js.console.error(f"[chat] {label}: {text}")
    area = document.querySelector('[data-testid="error-area"]')
    item = document.createElement("div")
    item.className = "error"
    item.dataset.testid = "error-item"
    item.dataset.code = label
    item.dataset.kind = kind
    icon = document.createElement("span")
    icon.className = "icon"
    icon.textContent = "!"
    body = document.createElement("div")
    body.className = "body"
    code_el = document.createElement("span")
    code_el.className = "code"
    code_el.textContent = label
    text_el = document.createElement("span")
    text_el.className = "text"
    text_el.textContent = text
    body.append(code_el, text_el)
    close = document.createElement("button")
    close.type = "button"
    close.ariaLabel = "Dismiss"
    close.textContent = "×"
    item.append(icon, body, close)

    done = []

    def dismiss(*_):
        # by the close button or the timer (also for an item clear_errors removed)
        if done:
            return
        done.append(True)
        item.remove()
        js.clearTimeout(timer_id)
        close.removeEventListener("click", click_proxy)
        # never destroy a proxy while it runs: release on the next tick
        loop = asyncio.get_event_loop()
        loop.call_soon(click_proxy.destroy)
        loop.call_soon(timer_proxy.destroy)

    click_proxy = create_proxy(dismiss)
    timer_proxy = create_proxy(dismiss)
    close.addEventListener("click", click_proxy)
    timer_id = js.setTimeout(timer_proxy, ERROR_TTL_MS)
    area.append(item)
    while area.children.length > 4:
        area.firstElementChild.remove()


def clear_errors(kind=None):
    area = document.querySelector('[data-testid="error-area"]')
    if kind is None:
        area.replaceChildren()
    else:
        for item in list(area.querySelectorAll(f'[data-kind="{kind}"]')):
            item.remove()


# -- status badge ----------------------------------------------------------------

STATUS_LABELS = {
    "idle": "Not connected",
    "connecting": "Connecting…",
    "connected": "Connected",
    "reconnecting": "Reconnecting…",
    "offline": "Offline",
}


def set_badge(state):
    badge = document.querySelector('[data-testid="status-badge"]')
    badge.dataset.status = state
    badge.querySelector(".status-text").textContent = STATUS_LABELS[state]
    by_id("retry-button").hidden = state != "offline"


# -- rendering -------------------------------------------------------------------


def avatar_color(name):
    h = 0
    for ch in name:
        h = (h * 31 + ord(ch)) % 360
    return f"hsl({h}, 62%, 52%)"


def format_time(ts):
    try:
        date = js.Date.new(ts)
        return (
            date.toLocaleTimeString(js.undefined, js_obj(hour="2-digit", minute="2-digit")),
            date.toLocaleString(),
        )
    except Exception:
        return "", ""


def message_key(message):
    return (message.get("ts") or 0, message.get("sender") or "", message.get("text") or "")


class MessageList:
    """The rendered messages, ordered by timestamp, without duplicates."""

    def __init__(self):
        self.list = by_id("message-list")
        self.keys = []  # sorted message keys
        self.nodes = {}

    def clear(self):
        self.keys = []
        self.nodes = {}
        self.list.replaceChildren()
        self._update_empty()

    def _update_empty(self):
        by_id("empty-note").hidden = bool(self.keys) or self.list.children.length > 0

    def _near_bottom(self):
        lst = self.list
        return lst.scrollHeight - lst.scrollTop - lst.clientHeight < 80

    def _scroll_to_bottom(self):
        self.list.scrollTop = self.list.scrollHeight

    def _build(self, sender, text, ts, mine, pending=False):
        li = document.createElement("li")
        li.className = "msg" + (" mine" if mine else "") + (" pending" if pending else "")
        li.dataset.testid = "pending-message" if pending else "message-item"
        li.dataset.sender = sender
        avatar = document.createElement("span")
        avatar.className = "avatar"
        avatar.textContent = (sender.strip() or "?")[0]
        avatar.style.background = avatar_color(sender)
        bubble = document.createElement("div")
        bubble.className = "bubble"
        meta = document.createElement("div")
        meta.className = "meta"
        who = document.createElement("span")
        who.className = "sender"
        who.textContent = sender
        when = document.createElement("time")
        short, full = format_time(ts) if ts else ("sending…", "")
        when.textContent = short
        if full:
            when.title = full
        meta.append(who, when)
        body = document.createElement("div")
        body.className = "text"
        body.dataset.testid = "message-text"
        body.textContent = text
        bubble.append(meta, body)
        li.append(avatar, bubble)
        return li

    def add(self, message, me):
        if not isinstance(message, dict):
            return False
        key = message_key(message)
        if key in self.nodes:
            return False
        sender, text = str(key[1]), str(key[2])
        node = self._build(sender, text, key[0], mine=(sender == me))
        stick = self._near_bottom() or sender == me
        index = bisect.bisect(self.keys, key)
        if index < len(self.keys):
            self.list.insertBefore(node, self.nodes[self.keys[index]])
        else:
            first_pending = self.list.querySelector(".pending")
            self.list.insertBefore(node, first_pending)  # None appends
        self.keys.insert(index, key)
        self.nodes[key] = node
        self._update_empty()
        if stick:
            self._scroll_to_bottom()
        return True

    def add_pending(self, sender, text):
        node = self._build(sender, text, None, mine=True, pending=True)
        self.list.append(node)
        self._update_empty()
        self._scroll_to_bottom()
        return node

    def remove_pending(self, node):
        node.remove()
        self._update_empty()


# -- the chat session --------------------------------------------------------------


class Chat:
    def __init__(self, client):
        self.client = client
        self.messages = MessageList()
        self.session = 0
        self.handle = None
        self.conn = None
        self.name = ""
        self.room = ""
        self.ever_connected = False
        self.fatal = False
        self.history_task = None
        self.history_wanted = False

    # connection callbacks carry the session they belong to: a late callback from
    # a connection we already left must not touch the page.

    def _on_status(self, session, status):
        if session != self.session:
            return
        js.console.debug(f"[chat] status {status}")
        if status == "connected":
            self.fatal = False
            self.ever_connected = True
            clear_errors("connection")  # what went wrong while connecting is over
            set_badge("connected" if js.navigator.onLine else "offline")
            self.refresh_history()  # fills the gap after a reconnect
        elif status == "connecting":
            if not self.fatal:
                set_badge("reconnecting" if self.ever_connected else "connecting")
        elif status == "disconnected":
            if not self.fatal:
                set_badge("reconnecting" if js.navigator.onLine else "offline")
        elif status == "idle":
            # The client gave up (a fatal error) or we disposed it.
            if self.conn is not None:
                self.fatal = True
                set_badge("offline")

    def _on_error(self, session, err):
        if session == self.session:
            show_error(err, kind="connection")

    def _on_message(self, session, message):
        if session == self.session:
            self.messages.add(message, self.name)

    async def join(self, name, room):
        await self.leave(show_join=False)
        self.session += 1
        session = self.session
        self.name, self.room = name, room
        self.ever_connected = False
        self.fatal = False
        self.messages.clear()
        by_id("room-title").textContent = room
        by_id("me-name").textContent = name
        by_id("message-input").placeholder = f"Message #{room}"
        by_id("join-view").hidden = True
        by_id("chat-view").hidden = False
        js.history.replaceState(None, "", "#room=" + js.encodeURIComponent(room))

        self.handle = self.client.chatRoom.get_or_create(["demo", room])
        conn = self.handle.connect()
        self.conn = conn
        conn.on("newMessage", lambda message: self._on_message(session, message))
        conn.on_status_change(lambda status: self._on_status(session, status))
        conn.on_error(lambda err: self._on_error(session, err))
        # connect() already moved to "connecting" before we could listen
        self._on_status(session, conn.status)
        by_id("message-input").focus()
        self.refresh_history()

    def refresh_history(self):
        # A fetch already running may have started before the gap: fetch once more
        # after it instead of skipping this request.
        self.history_wanted = True
        if self.history_task is None or self.history_task.done():
            self.history_task = spawn(self._history_loop(self.session))

    async def _history_loop(self, session):
        while self.history_wanted and session == self.session:
            self.history_wanted = False
            await self._load_history(session)

    async def _load_history(self, session):
        handle = self.handle
        js.console.debug("[chat] loading history")
        try:
            history = await handle.getHistory()
        except Exception as err:
            if session == self.session:
                # The connection retries by itself; the next "connected" reloads.
                show_error(err, kind="connection")
            return
        if session != self.session:
            return
        js.console.debug(f"[chat] history: {len(history or [])} messages")
        for message in history or []:
            self.messages.add(message, self.name)

    async def send(self, text):
        conn, session = self.conn, self.session
        if conn is None:
            return False
        pending = self.messages.add_pending(self.name, text)
        try:
            message = await asyncio.wait_for(conn.sendMessage(self.name, text), SEND_TIMEOUT)
        except Exception as err:
            self.messages.remove_pending(pending)
            if session == self.session:
                show_error(err)
            return False
        self.messages.remove_pending(pending)
        if session == self.session:
            self.messages.add(message, self.name)
        return True

    async def leave(self, show_join=True):
        conn, self.conn = self.conn, None
        self.session += 1
        self.handle = None
        if conn is not None:
            try:
                await conn.dispose()
            except Exception as err:
                show_error(err)
        if show_join:
            by_id("chat-view").hidden = True
            by_id("join-view").hidden = False
            set_badge("idle")
            js.history.replaceState(None, "", js.location.pathname + js.location.search)
            by_id("room-input").focus()


# -- page wiring ------------------------------------------------------------------


async def resolve_endpoint():
    params = js.URLSearchParams.new(js.location.search)
    endpoint = params.get("endpoint")
    if endpoint:
        return endpoint
    try:
        response = await js.fetch("./config.json", js_obj(cache="no-store"))
        if response.ok:
            data = (await response.json()).to_py()
            if isinstance(data, dict) and data.get("endpoint"):
                return data["endpoint"]
    except Exception:
        pass
    return DEFAULT_ENDPOINT


def room_from_hash():
    fragment = str(js.location.hash or "")
    if fragment.startswith("#room="):
        return str(js.decodeURIComponent(fragment[len("#room="):]))
    return ""


def update_counter():
    box = by_id("message-input")
    length = len(str(box.value))
    counter = by_id("counter")
    counter.textContent = f"{length}/{MAX_TEXT}" if length > MAX_TEXT * 0.75 else ""
    counter.className = "counter over" if length > MAX_TEXT else "counter"
    box.style.height = "auto"
    box.style.height = f"{min(int(box.scrollHeight) + 3, 160)}px"


def drop_connection():
    """Test hook: drop every open WebSocket as a network failure would."""
    from rivetkit_web.transport import browser

    return len([ws.simulate_drop() for ws in browser.open_sockets()])


async def start():
    endpoint = await resolve_endpoint()
    by_id("endpoint").textContent = f"endpoint: {endpoint}"

    hooks = js.Object.new()
    hooks.pyodide = pyodide_js
    hooks.endpoint = endpoint
    hooks.dropConnection = create_proxy(drop_connection)
    _proxies.append(hooks.dropConnection)
    js.window.rivetkitDemo = hooks

    name_input = by_id("name-input")
    room_input = by_id("room-input")
    saved_name = js.localStorage.getItem(NAME_KEY)
    if saved_name:
        name_input.value = saved_name
    room_input.value = room_from_hash() or "lobby"

    chat = None
    if IMPORT_ERROR is not None:
        show_error(f"rivetkit_web failed to load: {IMPORT_ERROR!r}", code="import")
    else:
        try:
            # A handshake that hangs is retried after connect_timeout: keep it short
            # so that a chat room recovers quickly.
            chat = Chat(create_client(endpoint, connect_timeout=CONNECT_TIMEOUT))
        except Exception as err:
            show_error(err)
    hooks.chat = create_proxy(chat) if chat is not None else None

    async def on_join():
        name = str(name_input.value).strip()
        room = str(room_input.value).strip()
        if not name or not room or chat is None:
            (name_input if not name else room_input).focus()
            return
        js.localStorage.setItem(NAME_KEY, name)
        clear_errors()
        await chat.join(name, room)

    async def on_send():
        box = by_id("message-input")
        text = str(box.value)
        box.value = ""
        update_counter()
        box.focus()
        if not await chat.send(text) and not str(box.value):
            box.value = text  # give the text back so it can be fixed and resent
            update_counter()

    def on_key(event):
        if event.key == "Enter" and not event.shiftKey and not event.isComposing:
            event.preventDefault()
            spawn(on_send())

    async def on_retry(_event):
        clear_errors()
        await chat.join(chat.name, chat.room)

    def on_network(_event):
        if chat is None or chat.conn is None:
            return
        if not js.navigator.onLine:
            set_badge("offline")
        else:
            chat._on_status(chat.session, chat.conn.status)

    def on_submit(handler):
        # preventDefault must happen now, inside the event dispatch, not in a task
        def listener(event):
            event.preventDefault()
            spawn(handler())

        return listener

    listen(by_id("join-form"), "submit", on_submit(on_join))
    listen(by_id("send-form"), "submit", on_submit(on_send))
    listen(by_id("message-input"), "keydown", on_key)
    listen(by_id("message-input"), "input", lambda e: update_counter())
    listen(by_id("leave-button"), "click", lambda e: spawn(chat.leave()))
    listen(by_id("retry-button"), "click", lambda e: spawn(on_retry(e)))
    listen(js.window, "online", on_network)
    listen(js.window, "offline", on_network)

    by_id("loading").hidden = True
    by_id("join-view").hidden = False
    by_id("join-button").disabled = chat is None
    set_badge("idle")
    document.body.dataset.readyMs = str(round(js.performance.now()))
    document.body.dataset.ready = "1"
    if not name_input.value:
        name_input.focus()
    else:
        room_input.focus()


await start()  # noqa: F704  (PyScript runs this module with top-level await)
