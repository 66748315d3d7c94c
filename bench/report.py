"""Turns bench/run.py's measurements into rows of ratios, a markdown report and a chart."""

from __future__ import annotations

import math
from typing import Any

# id, label, unit, better
FIGURES: list[tuple[str, str, str, str]] = [
    ("rtt_p50_ms", "action round trip, 1 connection, p50", "ms", "lower"),
    ("rtt_p99_ms", "action round trip, 1 connection, p99", "ms", "lower"),
    ("pipeline_actions_per_s", "pipelined actions, {pipeline} in flight, 1 connection", "actions/s", "higher"),
    ("http_p50_ms", "stateless HTTP action, p50", "ms", "lower"),
    ("http_p99_ms", "stateless HTTP action, p99", "ms", "lower"),
    ("connect_first_action_p50_ms", "connect() to first action result, p50", "ms", "lower"),
    ("resolve_p50_ms", "resolve() (new handle each), p50", "ms", "lower"),
    ("fanout_ms", "fan-out {events} events to {conns} conns: time until all received", "ms", "lower"),
    ("fanout_events_per_s", "fan-out delivery rate", "events/s", "higher"),
    ("rtt_cpu_us", "client CPU per round trip (user+sys)", "µs", "lower"),
    ("pipeline_cpu_us", "client CPU per pipelined action", "µs", "lower"),
    ("http_cpu_us", "client CPU per stateless HTTP action", "µs", "lower"),
    ("fanout_cpu_us", "client CPU per fan-out event received (+ the emits)", "µs", "lower"),
    ("mem_per_conn_kib", "memory per connection (heap: tracemalloc / V8)", "KiB", "lower"),
    ("mem_rss_per_conn_kib", "memory per connection (RSS delta)", "KiB", "lower"),
]
IMPORT_FIGURE = ("import_ms", "import time: library + its transport deps", "ms", "lower")

# (figure, reference) -> (op, bound): the goals of the issue, as ratios of the same run
TARGETS: dict[tuple[str, str], tuple[str, float]] = {
    ("rtt_p50_ms", "js"): ("<=", 1.1),
    ("rtt_p50_ms", "floor"): ("<=", 1.2),
    ("pipeline_actions_per_s", "js"): (">=", 0.9),
    ("http_p50_ms", "js"): ("<=", 1.1),
    ("fanout_events_per_s", "js"): (">=", 0.9),
}

CONFIG_TITLES = {
    "nodelay": "engine with the TCP_NODELAY shim (harness `nodelay=True`)",
    "stock": "stock engine, no TCP_NODELAY shim (harness `nodelay=False`)",
    "responder": "no engine: the minimal protocol responder `bench/responder.mjs`",
}
CONFIG_NOTES = {
    "responder": ("Every request is answered at once, in-process, by a Node responder that costs far less per "
                  "message than the clients (below; tiny runs show its cold JIT): the times are the clients' own "
                  "cost plus loopback and the responder's share. The targets of the "
                  "issue are for the real engine and are not checked here; the ratios are the honest measure "
                  "of what each client itself costs."),
}
NO_TARGETS = {"responder"}  # configurations whose rows get no target check


def _label(label: str, params: dict[str, Any]) -> str:
    return label.format(pipeline=params["pipeline"]["n"], events=params["fanout"]["events"],
                        conns=params["fanout"]["conns"])


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0 or a < 0:
        return None
    return a / b


def _met(value: float | None, op: str, bound: float) -> bool | None:
    if value is None:
        return None
    return value <= bound if op == "<=" else value >= bound


def phase_of(fid: str) -> str:
    """The run.py phase that measures a figure."""
    head = fid.split("_")[0]
    return {"mem": "memory", "import": "import"}.get(head, head)


def build_rows(results: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per (configuration, figure, encoding) measured; and the list of missing values
    (also those of the browser tables, whose rows are :func:`browser_rows`, :func:`coldstart_rows`)."""
    rows, missing = _main_rows(results)
    return rows, missing + browser_rows(results)[1] + coldstart_rows(results)[1]


def _ran(results: dict[str, Any], kind: str) -> bool:
    """Whether the run included this client kind (``--kinds``; older runs: js, ours, floor)."""
    return kind in (results["meta"].get("kinds") or ("js", "ours", "floor"))


def _main_rows(results: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    params = results["meta"]["params"]
    phases = results["meta"].get("phases") or [phase_of(f[0]) for f in FIGURES] + ["import"]
    if not any(_ran(results, kind) for kind in ("js", "ours", "floor")):  # a browser-only run
        return rows, missing
    for cfg, c in results["configs"].items():
        clients = c["clients"]
        for fid, label, unit, better in FIGURES:
            if phase_of(fid) not in phases:
                continue
            for enc in ("json", "bare"):
                vals = {kind: clients.get(f"{kind}/{enc}", {}).get("figures", {}).get(fid)
                        for kind in ("js", "ours", "floor")}
                for kind, v in vals.items():
                    if v is None and _ran(results, kind):
                        missing.append(f"{cfg}:{fid}:{kind}/{enc}")
                rows.append(_row(cfg, fid, _label(label, params), unit, better, enc, vals))
    if "import" not in phases:
        return rows, missing
    imp = results.get("imports", {})
    fid, label, unit, better = IMPORT_FIGURE
    vals = {kind: imp.get(kind, {}).get("import_ms") for kind in ("js", "ours", "floor")}
    for kind, v in vals.items():
        if v is None and _ran(results, kind):
            missing.append(f"-:{fid}:{kind}")
    row = _row("-", fid, label, unit, better, "-", vals)
    row["ours_module_only"] = imp.get("ours", {}).get("module_only_ms")
    rows.append(row)
    return rows, missing


def _row(cfg: str, fid: str, label: str, unit: str, better: str, enc: str,
         vals: dict[str, float | None]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "config": cfg, "figure": fid, "label": label, "unit": unit, "better": better, "encoding": enc,
        "js": vals["js"], "ours": vals["ours"], "floor": vals["floor"],
        "ours_js": _ratio(vals["ours"], vals["js"]), "ours_floor": _ratio(vals["ours"], vals["floor"]),
        "targets": [],
    }
    for ref in ("js", "floor"):
        target = None if cfg in NO_TARGETS else TARGETS.get((fid, ref))
        if target:
            op, bound = target
            value = row["ours_js" if ref == "js" else "ours_floor"]
            row["targets"].append({"vs": ref, "op": op, "bound": bound, "met": _met(value, op, bound)})
    return row


# --------------------------------------------------------------------------- markdown


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    if unit in ("actions/s", "events/s"):
        return f"{v:,.0f}"
    if unit == "KiB":
        return f"{v:,.1f}"
    return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.1f}"


def _fr(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def _target_cell(row: dict[str, Any]) -> tuple[str, str]:
    if not row["targets"]:
        return "", ""
    texts, marks = [], []
    for t in row["targets"]:
        ref = "JS" if t["vs"] == "js" else "floor"
        texts.append(f"vs {ref} {'≤' if t['op'] == '<=' else '≥'} {t['bound']}")
        marks.append({True: "met", False: "**missed**", None: "n/a"}[t["met"]])
    return "; ".join(texts), "; ".join(marks)


def markdown_tables(results: dict[str, Any]) -> str:
    out: list[str] = []
    rows = results["rows"]
    for cfg in results["configs"]:
        c = results["configs"][cfg]
        out.append(f"### `{cfg}`: {CONFIG_TITLES.get(cfg, cfg)}"
                   + ("" if c.get("nodelay_active") == c.get("nodelay") else
                      " — WARNING: shim requested but not active"))
        out.append("")
        if cfg in CONFIG_NOTES:
            out.append(CONFIG_NOTES[cfg])
            out.append("")
        if c.get("server"):
            out.append(_server_line(c["server"]))
            out.append("")
        main_rows = [r for r in rows if r["config"] == cfg]
        if main_rows:
            out.append("| figure | enc | JS | ours | floor | ours/JS | ours/floor | target | |")
            out.append("|---|---|--:|--:|--:|--:|--:|---|---|")
        for r in main_rows:
            arrow = "↓" if r["better"] == "lower" else "↑"
            tcell, mark = _target_cell(r)
            out.append(
                f"| {r['label']} ({r['unit']}, {arrow} better) | {r['encoding']} | {_fmt(r['js'], r['unit'])} | "
                f"{_fmt(r['ours'], r['unit'])} | {_fmt(r['floor'], r['unit'])} | {_fr(r['ours_js'])} | "
                f"{_fr(r['ours_floor'])} | {tcell} | {mark} |"
            )
        out.append("")
        out.extend(browser_tables(results, cfg))
    imp = [r for r in rows if r["config"] == "-"]
    if imp:
        r = imp[0]
        out.append("### Client only (no backend involved)")
        out.append("")
        out.append("| figure | JS | ours | floor | ours/JS | ours/floor |")
        out.append("|---|--:|--:|--:|--:|--:|")
        out.append(f"| {r['label']} (ms, ↓ better) | {_fmt(r['js'], 'ms')} | {_fmt(r['ours'], 'ms')} | "
                   f"{_fmt(r['floor'], 'ms')} | {_fr(r['ours_js'])} | {_fr(r['ours_floor'])} |")
        if r.get("ours_module_only") is not None:
            out.append(f"| `import rivetkit_web` alone (transport imported lazily) (ms) | | "
                       f"{_fmt(r['ours_module_only'], 'ms')} | | | |")
        out.append("")
    return "\n".join(out)


def _server_line(server: dict[str, Any]) -> str:
    """The responder's own CPU per message, phase by phase (all six clients together)."""
    parts = []
    for figure, d in server.items():
        per = d.get("cpu_us_per_message")
        if per is not None:
            msgs = d["ws_frames_in"] + d["ws_frames_out"] + d["http_requests"]
            parts.append(f"{figure} {per:.1f} µs ({msgs:,} messages)")
    return ("Responder CPU (user+sys) per message handled (WebSocket frame in or out, or HTTP request): "
            + ("; ".join(parts) if parts else "n/a") + ".")


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    p = meta["params"]
    lines = [
        "# rivetkit_web benchmarks: side by side with the JS client",
        "",
        (f"Run `{meta['started']}`, size `{meta['size']}`, {meta['seconds']:.0f} s, "
         f"git `{meta.get('git')}`, Python {meta['python']}, {meta['cpus']} CPUs, "
         f"load average {meta['loadavg_start'][0]:.1f} → {meta['loadavg_end'][0]:.1f}."),
        "",
        ("* **JS** = `rivetkit/client` "
         + _info(results, "js") + "; **ours** = `rivetkit_web` on CPython; **floor** = bare `websockets` "
         "`/connect` socket with hand-written frames + kept-alive `httpx` POST, no client logic."),
        ("* Each row compares the same encoding in all three (`enc`); JS's default is `bare`, "
         "rivetkit_web's is `json`."),
        ("* **ours/JS** and **ours/floor** are plain ratios of the two values: for ↓ figures "
         "(times, memory) below 1 means rivetkit_web is better, for ↑ figures (rates) above 1 does."),
        (f"* Counts: round trip {p['rtt']['rounds'] * p['rtt']['n']} calls, HTTP "
         f"{p['http']['rounds'] * p['http']['n']} calls, pipelined {p['pipeline']['n']} in flight × "
         f"{p['pipeline']['rounds']} rounds (median), connect {p['connect']['rounds'] * p['connect']['n']}, "
         f"resolve {p['resolve']['rounds'] * p['resolve']['n']}, fan-out {p['fanout']['events']} events × "
         f"{p['fanout']['conns']} connections × {p['fanout']['rounds']} rounds (median), memory over "
         f"{p['memory']['conns']} connections. Clients take turns round by round (order rotated)."),
        _browser_intro(results),
        "",
        markdown_tables(results),
    ]
    errors = [(cfg, name, fig, err) for cfg, c in results["configs"].items()
              for name, d in c["clients"].items() for fig, err in d.get("errors", {}).items()]
    if errors or results.get("missing"):
        lines.append("### Errors")
        lines.append("")
        for cfg, name, fig, err in errors:
            lines.append(f"* `{cfg}` `{name}` {fig}: {err.splitlines()[0] if err else err}")
        for m in results.get("missing", []):
            lines.append(f"* missing: `{m}`")
        lines.append("")
    lines.append("Chart: `latest.png`; every sample summary: `latest.json`.")
    lines.append("")
    return "\n".join(lines)


def _info(results: dict[str, Any], kind: str) -> str:
    for c in results["configs"].values():
        for name, d in c["clients"].items():
            if name.startswith(kind + "/") and d.get("info"):
                info = d["info"]
                return f"{info.get('version', '')} on Node {info.get('node', '?')}".strip()
    return ""


# --------------------------------------------------------------------------- the browser
# page-js = the JS client and page-ours = rivetkit_web under Pyodide, in ONE Chromium page
# (bench/browser/). Their own table per configuration, and the cold starts.

BROWSER_PAIR = ("page-js", "page-ours")
#: the goal of the issue for Pyodide: each figure <= 1.25 x the JS client in the same page
#: (rates: >= 1 / 1.25)
BROWSER_BOUND = 1.25
BROWSER_TARGETED = {"rtt_p50_ms", "rtt_p99_ms", "pipeline_actions_per_s", "http_p50_ms", "http_p99_ms",
                    "connect_first_action_p50_ms", "resolve_p50_ms", "fanout_ms", "fanout_events_per_s"}
#: labels that differ in a page (no process CPU or RSS there)
BROWSER_LABELS = {
    "rtt_cpu_us": "page main-thread CPU per round trip",
    "pipeline_cpu_us": "page main-thread CPU per pipelined action",
    "http_cpu_us": "page main-thread CPU per stateless HTTP action",
    "fanout_cpu_us": "page main-thread CPU per fan-out event received (+ the emits)",
    "mem_per_conn_kib": "memory per connection (JS heap; ours: + Python heap)",
}
#: the goal for the demo: cold start to first action <= 1.5 x bare Pyodide boot
COLDSTART_BOUND = 1.5


def browser_rows(results: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows page-js vs page-ours per (configuration, figure, encoding); and missing values.

    A value the JS client cannot produce in a browser (``unsupported``, e.g. its HTTP
    actions) is not missing: the row says why."""
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    params = results["meta"]["params"]
    phases = results["meta"].get("phases") or [phase_of(f[0]) for f in FIGURES]
    for cfg, c in results["configs"].items():
        clients = c["clients"]
        if not any(name.split("/")[0] in BROWSER_PAIR for name in clients):
            continue
        for fid, label, unit, better in FIGURES:
            if phase_of(fid) not in phases or fid == "mem_rss_per_conn_kib":
                continue
            for enc in ("json", "bare"):
                vals: dict[str, float | None] = {}
                na: dict[str, str] = {}
                for kind in BROWSER_PAIR:
                    d = clients.get(f"{kind}/{enc}", {})
                    vals[kind] = d.get("figures", {}).get(fid)
                    reason = d.get("unsupported", {}).get(phase_of(fid))
                    if reason:
                        na[kind] = reason
                    elif vals[kind] is None:
                        missing.append(f"{cfg}:{fid}:{kind}/{enc}")
                ratio = _ratio(vals["page-ours"], vals["page-js"])
                row: dict[str, Any] = {
                    "config": cfg, "figure": fid, "label": _label(BROWSER_LABELS.get(fid, label), params),
                    "unit": unit, "better": better, "encoding": enc, "js": vals["page-js"],
                    "ours": vals["page-ours"], "ours_js": ratio, "unsupported": na, "target": None,
                }
                if fid in BROWSER_TARGETED:
                    op, bound = ("<=", BROWSER_BOUND) if better == "lower" else (">=", 1 / BROWSER_BOUND)
                    row["target"] = {"op": op, "bound": bound, "met": _met(ratio, op, bound)}
                rows.append(row)
    return rows, missing


def coldstart_rows(results: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per configuration with the cold starts (medians, ms) and the demo's ratio."""
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    if "coldstart" not in (results["meta"].get("phases") or ["coldstart"]):
        return rows, missing
    for cfg, c in results["configs"].items():
        browser = c["clients"].get("_browser")
        if browser is None:
            continue
        cold = browser.get("coldstart")
        if not cold:
            missing.append(f"{cfg}:coldstart")
            continue
        bare = cold.get("pyodide_ready_ms")
        first = cold.get("demo_first_action_ms")
        ratio = _ratio(first, bare)
        rows.append({
            "config": cfg, "reps": cold.get("reps"), "bare_ms": bare, "demo_ready_ms": cold.get("demo_ready_ms"),
            "demo_first_action_ms": first, "ratio": ratio, "ready_ratio": _ratio(cold.get("demo_ready_ms"), bare),
            "js_first_action_ms": cold.get("js_first_action_ms"),
            "segments": {k[len("demo_seg_"):-len("_ms")]: v for k, v in cold.items() if k.startswith("demo_seg_")},
            "target": {"op": "<=", "bound": COLDSTART_BOUND, "met": _met(ratio, "<=", COLDSTART_BOUND)},
        })
    return rows, missing


def _mark(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "n/a"}[met]


def _browser_intro(results: dict[str, Any]) -> str:
    if not any(_ran(results, kind) for kind in BROWSER_PAIR):
        return ""
    return ("* **page-js** = the same `rivetkit/client` bundled with esbuild for the browser (`devtools: false`), "
            "**page-ours** = `rivetkit_web` under Pyodide (the wheel of site/build.py) driven by the same "
            "`OursClient` code as on CPython: both in ONE Chromium page (`bench/browser/`), taking turns with "
            "the other clients. Goals: each figure ≤ 1.25 × page-js; demo cold start to first action ≤ 1.5 × "
            "bare Pyodide boot.")


def browser_tables(results: dict[str, Any], cfg: str) -> list[str]:
    """The markdown of the browser tables of one configuration (none if no browser ran)."""
    out: list[str] = []
    rows = [r for r in browser_rows(results)[0] if r["config"] == cfg]
    notes: dict[str, int] = {}
    if rows:
        info = results["configs"][cfg]["clients"].get("_browser", {}).get("info", {})
        out.append(f"#### `{cfg}` in Chromium, same page: the JS client (esbuild bundle) and rivetkit_web "
                   f"under Pyodide")
        out.append("")
        if info:
            out.append(f"Chromium {info.get('chromium', '?')}, Pyodide {info.get('pyodide_version', '?')}; "
                       "both clients in one page, driven one after the other like the others. CPU = the "
                       "renderer main thread's CPU time (CDP `Performance.getMetrics` `TaskDuration`, thread "
                       "ticks) around each command.")
            out.append("")
        out.append(f"| figure | enc | page-js | page-ours | ours/JS | target (≤ {BROWSER_BOUND}×) | |")
        out.append("|---|---|--:|--:|--:|---|---|")
        for r in rows:
            arrow = "↓" if r["better"] == "lower" else "↑"
            cells = {}
            for side, kind in (("js", "page-js"), ("ours", "page-ours")):
                reason = r["unsupported"].get(kind)
                if reason:
                    n = notes.setdefault(reason, len(notes) + 1)
                    cells[side] = f"fails [{n}]"
                else:
                    cells[side] = _fmt(r[side], r["unit"])
            t = r["target"]
            tcell = "" if t is None else f"{'≤' if t['op'] == '<=' else '≥'} {t['bound']:.2f}"
            mark = "" if t is None else _mark(t["met"])
            out.append(f"| {r['label']} ({r['unit']}, {arrow} better) | {r['encoding']} | {cells['js']} | "
                       f"{cells['ours']} | {_fr(r['ours_js'])} | {tcell} | {mark} |")
        out.append("")
        for reason, n in notes.items():
            out.append(f"[{n}] {reason}")
            out.append("")
    cold = [r for r in coldstart_rows(results)[0] if r["config"] == cfg]
    if cold:
        r = cold[0]
        out.append(f"#### `{cfg}`: cold start in a fresh browser context (median of {r['reps']})")
        out.append("")
        out.append("| from navigation start to | ms | / bare Pyodide boot | target | |")
        out.append("|---|--:|--:|---|---|")
        out.append(f"| bare Pyodide boot: `loadPyodide()` ready (bench/browser/pyodide_boot.html) | "
                   f"{_fmt(r['bare_ms'], 'ms')} | 1.00 | | |")
        out.append(f"| demo (site/): page ready, `body[data-ready=1]` | {_fmt(r['demo_ready_ms'], 'ms')} | "
                   f"{_fr(r['ready_ratio'])} | | |")
        out.append(f"| demo: first action result (`getHistory()` over HTTP, fired when ready) | "
                   f"{_fmt(r['demo_first_action_ms'], 'ms')} | {_fr(r['ratio'])} | ≤ {COLDSTART_BOUND} | "
                   f"{_mark(r['target']['met'])} |")
        out.append(f"| JS client page: bundle imported, `connect()` + first action result | "
                   f"{_fmt(r['js_first_action_ms'], 'ms')} | {_fr(_ratio(r['js_first_action_ms'], r['bare_ms']))} "
                   "| | |")
        out.append("")
        if r["segments"]:
            names = {"pyscript": "PyScript before the interpreter", "interpreter": "`loadPyodide()`",
                     "packages": "our wheel (PyScript `files`)", "main_to_ready": "main.py to ready",
                     "first_action": "first action"}
            out.append("Demo breakdown (medians of each segment, ms): "
                       + ", ".join(f"{names.get(k, k)} {v:,.0f}" for k, v in r["segments"].items()) + ".")
            out.append("")
    return out


def _browser_chart(fig: Any, results: dict[str, Any]) -> None:
    """Bars page-ours / page-js (costs, rates inverted) per configuration, and the demo's
    cold start / bare Pyodide boot, drawn into ``fig`` (a figure or subfigure)."""
    rows = browser_rows(results)[0]
    cold = coldstart_rows(results)[0]
    cfgs = [cfg for cfg in results["configs"] if any(r["config"] == cfg for r in rows)]
    n_axes = len(cfgs) + (1 if cold else 0)
    if not n_axes:
        return
    axes = fig.subplots(1, n_axes, squeeze=False,
                        gridspec_kw={"width_ratios": [3] * len(cfgs) + ([1.3] if cold else [])})[0]
    for ax, cfg in zip(axes, cfgs):
        group = [r for r in rows if r["config"] == cfg]
        costs = [_cost(r["ours_js"], r["better"] == "higher") for r in group]
        y = list(range(len(group)))
        ax.barh(y, [v or 0 for v in costs], height=0.6, color="#54a24b", label="Pyodide / JS, same page")
        for i, (v, r) in enumerate(zip(costs, group)):
            text = "JS fails" if r["unsupported"].get("page-js") else ("n/a" if v is None else f"{v:.2f}")
            ax.text((v or 0) + 0.02, i, text, va="center", fontsize=6)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.axvline(BROWSER_BOUND, color="#c0392b", linewidth=0.8, linestyle="--", label=f"target {BROWSER_BOUND}")
        finite = [v for v in costs if v]
        ax.set_xlim(0, max(2.0, min(max(finite, default=1.0), 8.0) * 1.12))
        ax.set_yticks(y)
        ax.set_yticklabels([f"{r['label']} [{r['encoding']}]" for r in group] if ax is axes[0] else [],
                           fontsize=7)
        ax.invert_yaxis()
        ax.set_title(f"{cfg}: in Chromium, rivetkit_web (Pyodide) / JS client", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", linewidth=0.3)
        ax.legend(fontsize=7, loc="lower right")
    if cold:
        ax = axes[-1]
        labels = [f"{r['config']}: demo first action" for r in cold] + [f"{r['config']}: demo ready" for r in cold]
        values = [r["ratio"] for r in cold] + [r["ready_ratio"] for r in cold]
        y = list(range(len(values)))
        ax.barh(y, [v or 0 for v in values], height=0.6, color="#9467bd")
        for i, v in enumerate(values):
            ax.text((v or 0) + 0.02, i, "n/a" if v is None else f"{v:.2f}", va="center", fontsize=6)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.axvline(COLDSTART_BOUND, color="#c0392b", linewidth=0.8, linestyle="--",
                   label=f"target {COLDSTART_BOUND}")
        ax.set_xlim(0, max(2.0, max((v for v in values if v), default=1.0) * 1.15))
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=7)
        ax.yaxis.tick_right()
        ax.set_ylim(max(len(values), 8) - 0.5, -0.5)  # top down, bars as thin as the others
        ax.set_title("cold start / bare Pyodide boot", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", linewidth=0.3)
        ax.legend(fontsize=7, loc="lower right")


# --------------------------------------------------------------------------- chart


def chart(results: dict[str, Any], path: str) -> None:
    """Horizontal bars of ours/JS and ours/floor, one panel per configuration.

    Every bar is a cost ratio: >1 means rivetkit_web is worse. Rates (higher is
    better) are inverted so that this holds for every row; the table keeps the raw
    ratios.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    cfgs = [cfg for cfg in results["configs"] if any(r["config"] == cfg for r in rows)]
    common = [r for r in rows if r["config"] == "-"]
    panels = [[r for r in rows if r["config"] == cfg] + common for cfg in cfgs]
    n = max((len(p) for p in panels), default=1)
    b_rows = browser_rows(results)[0]
    browser = bool(b_rows or coldstart_rows(results)[0])
    if not browser:
        fig, axes = plt.subplots(1, len(cfgs), figsize=(6.2 * len(cfgs) + 3.2, 0.3 * n + 1.6),
                                 sharey=True, squeeze=False)
    else:  # the browser's bars below the others
        bn = max((sum(r["config"] == c for r in b_rows) for c in results["configs"]), default=0)
        top_h, bottom_h = (0.3 * n + 1.6 if cfgs else 0), 0.3 * max(bn, 6) + 1.6
        fig = plt.figure(figsize=(6.2 * max(len(cfgs), 2) + 3.2, top_h + bottom_h), layout="constrained")
        if cfgs:
            top, bottom = fig.subfigures(2, 1, height_ratios=[top_h, bottom_h])
            axes = top.subplots(1, len(cfgs), sharey=True, squeeze=False)
        else:
            bottom, axes = fig, [[]]
        _browser_chart(bottom, results)
    labels = []
    for r in panels[0] if panels else []:
        label = r["label"] if r["encoding"] == "-" else f"{r['label']} [{r['encoding']}]"
        labels.append(label + (" (no backend)" if r["config"] == "-" else ""))
    h = 0.4
    for ax, cfg, group in zip(axes[0], cfgs, panels):
        vs_js = [_cost(r["ours_js"], r["better"] == "higher") for r in group]
        vs_floor = [_cost(r["ours_floor"], r["better"] == "higher") for r in group]
        y = list(range(len(group)))
        ax.barh([i - h / 2 for i in y], [v or 0 for v in vs_js], height=h, color="#d9822b", label="ours / JS")
        ax.barh([i + h / 2 for i in y], [v or 0 for v in vs_floor], height=h, color="#4c78a8",
                label="ours / floor")
        for i, (a, b) in enumerate(zip(vs_js, vs_floor)):
            for v, dy in ((a, -h / 2), (b, h / 2)):
                ax.text((v or 0) + 0.02, i + dy, "n/a" if v is None else f"{v:.2f}", va="center", fontsize=6)
        ax.axvline(1.0, color="black", linewidth=0.8)
        finite = [v for v in vs_js + vs_floor if v]
        ax.set_xlim(0, max(2.0, min(max(finite, default=1.0), 8.0) * 1.12))
        ax.set_title(f"{cfg}: {CONFIG_TITLES.get(cfg, cfg)}", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", linewidth=0.3)
        ax.legend(fontsize=7, loc="lower right")
    if cfgs:
        axes[0][0].set_yticks(list(range(len(labels))))
        axes[0][0].set_yticklabels(labels, fontsize=7)
        axes[0][0].invert_yaxis()
    meta = results["meta"]
    fig.suptitle(f"rivetkit_web relative to the JS client and the raw floor, same run "
                 f"(size {meta['size']}, {meta['started']}). Bars are costs: >1 = rivetkit_web worse "
                 f"(rates inverted).", fontsize=9)
    if not browser:  # (the browser's figure lays itself out: constrained)
        fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _cost(ratio: float | None, invert: bool) -> float | None:
    if ratio is None or ratio <= 0 or math.isinf(ratio):
        return None
    return 1.0 / ratio if invert else ratio


def main(argv: list[str] | None = None) -> int:
    """Render latest.md and latest.png again from a latest.json (e.g. after changing this file)."""
    import argparse
    import json
    import os

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("json_path", help="a latest.json written by bench/run.py")
    args = ap.parse_args(argv)
    with open(args.json_path) as f:
        results = json.load(f)
    results["rows"], results["missing"] = build_rows(results)
    out = os.path.dirname(os.path.abspath(args.json_path))
    with open(args.json_path, "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(out, "latest.md"), "w") as f:
        f.write(markdown(results))
    chart(results, os.path.join(out, "latest.png"))
    print(f"rendered {out}/latest.md and latest.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
