// The bench page's driver: the JS client and rivetkit_web (Pyodide) in ONE page.
//
// bench/browser/worker.py opens page.html and calls, through Playwright:
//
//   await window.bench.boot({bundle, pyodide, wheel, files})  // once: Pyodide + our wheel
//   await window.bench.run(cmd)                                // every command
//
// `cmd` is one command of the bench protocol (see bench/py_worker.py) plus `client`:
// a logical client name such as "page-js/bare" or "page-ours/json". `page-js/*`
// commands run the same JsBench code as bench/js/bench.mjs on Node
// (bench/js/client_bench.mjs: the official `rivetkit/client`, bundled for the
// browser with esbuild, devtools off); `page-ours/*` commands go to
// bench/browser/page_ours.py in the page's Pyodide, which drives the very same
// `OursClient` as bench/py_worker.py does on CPython.
//
// Replies are plain objects; a failed command throws (the worker reports it).
// Client CPU is not measured here: the worker takes the renderer's main-thread time
// (CDP Performance.getMetrics TaskDuration) around each command, for both clients.

import { fullGc, JsBench, now } from "../js/client_bench.mjs";

function heapBytes() {
	// --enable-precise-memory-info makes this exact (else it is bucketed)
	return performance.memory ? performance.memory.usedJSHeapSize : null;
}

// the JS heap after gc() around opening the connections (no RSS in a page)
async function pageMemory(open, nconns) {
	await fullGc();
	const m0 = heapBytes();
	const cleanup = await open();
	await fullGc();
	const m1 = heapBytes();
	await cleanup();
	return {
		per_conn_bytes: m0 === null ? null : (m1 - m0) / nconns,
		rss_per_conn_bytes: null,
		method: "JS heap (performance.memory.usedJSHeapSize) delta after gc()",
	};
}

// ------------------------------------------------------------------ the JS client

const COMMANDS = new Set(["setup", "rtt", "pipeline", "http", "connect", "resolve", "fanout", "memory"]);

class JsClient extends JsBench {
	constructor(createClient) {
		super(null, { memory: pageMemory });
		this.createClient = createClient;
	}

	async setup({ endpoint, encoding }) {
		// devtools would add <script src="{endpoint}/devtools/mod.js"> (not served by the engine)
		this.client = this.createClient({ endpoint, encoding, devtools: false });
		return { info: { client: "rivetkit/client (esbuild browser bundle)", version: bench.jsVersion, encoding,
			browser: navigator.userAgent } };
	}

	async close() {
		if (this.client) await super.close();
	}
}

// ------------------------------------------------------------------ the page API

const bench = {
	jsVersion: null,
	createClient: null,
	pyodide: null,
	glue: null, // page_ours.run (a PyProxy)
	clients: new Map(), // page-js/<enc> -> JsClient

	async boot({ bundle, jsVersion, pyodide: pyodideUrl, wheel, files }) {
		const t0 = now();
		({ createClient: this.createClient } = await import(bundle));
		this.jsVersion = jsVersion;
		const t1 = now();
		const { loadPyodide } = await import(`${pyodideUrl}pyodide.mjs`);
		const py = await loadPyodide({ indexURL: pyodideUrl });
		const t2 = now();
		await py.loadPackage(wheel);
		// bench/py_worker.py and the glue, the very files CPython runs, into the FS
		py.FS.mkdirTree("/home/pyodide/bench");
		for (const [name, url] of Object.entries(files)) {
			const text = await (await fetch(url, { cache: "no-store" })).text();
			py.FS.writeFile(`/home/pyodide/bench/${name}`, text);
		}
		await py.runPythonAsync(
			"import sys\nsys.path.insert(0, '/home/pyodide/bench')\nimport page_ours\n",
		);
		this.glue = py.globals.get("sys").modules.get("page_ours").run;
		this.pyodide = py;
		const t3 = now();
		return {
			js_import_ms: t1 - t0,
			pyodide_boot_ms: t2 - t1,
			wheel_and_glue_ms: t3 - t2,
			pyodide_version: py.version,
		};
	},

	async run(cmd) {
		const name = cmd.client;
		if (name.startsWith("page-ours/")) {
			return JSON.parse(await this.glue(JSON.stringify(cmd)));
		}
		if (!name.startsWith("page-js/")) throw new Error(`unknown client ${name}`);
		let c = this.clients.get(name);
		if (cmd.cmd === "setup") {
			c = new JsClient(this.createClient);
			this.clients.set(name, c);
		}
		if (!c) throw new Error(`${name}: no setup`);
		if (!COMMANDS.has(cmd.cmd)) throw new Error(`unknown command ${cmd.cmd}`);
		return await c[cmd.cmd](cmd);
	},

	async close() {
		for (const c of this.clients.values()) await c.close();
		if (this.glue) await this.glue(JSON.stringify({ cmd: "close", client: "page-ours/*" }));
	},
};

window.bench = bench;
