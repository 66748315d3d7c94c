// The bench page's driver: the JS client and rivetkit_web (Pyodide) in ONE page.
//
// bench/browser/worker.py opens page.html and calls, through Playwright:
//
//   await window.bench.boot({bundle, pyodide, wheel, files})  // once: Pyodide + our wheel
//   await window.bench.run(cmd)                                // every command
//
// `cmd` is one command of the bench protocol (see bench/py_worker.py) plus `client`:
// a logical client name such as "page-js/bare" or "page-ours/json". `page-js/*`
// commands run below, a port of bench/js/bench.mjs (the official `rivetkit/client`,
// bundled for the browser with esbuild, devtools off); `page-ours/*` commands go to
// bench/browser/page_ours.py in the page's Pyodide, which drives the very same
// `OursClient` as bench/py_worker.py does on CPython.
//
// Replies are plain objects; a failed command throws (the worker reports it).
// Client CPU is not measured here: the worker takes the renderer's main-thread time
// (CDP Performance.getMetrics TaskDuration) around each command, for both clients.

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const FANOUT_TIMEOUT_MS = 600000;

function withTimeout(promise, timeoutMs, what) {
	let timer;
	return Promise.race([
		promise,
		new Promise((_, reject) => {
			timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
		}),
	]).finally(() => clearTimeout(timer));
}

function heapBytes() {
	// --enable-precise-memory-info makes this exact (else it is bucketed)
	return performance.memory ? performance.memory.usedJSHeapSize : null;
}

async function fullGc() {
	if (typeof globalThis.gc === "function") {
		globalThis.gc();
		await sleep(50);
		globalThis.gc();
	}
}

// ------------------------------------------------------------------ the JS client

class JsClient {
	constructor(createClient) {
		this.createClient = createClient;
		this.client = null;
		this.conns = new Map();
		this.handles = new Map();
		this.warm = new Set();
	}

	handle(key) {
		let h = this.handles.get(key);
		if (!h) {
			h = this.client.counter.getOrCreate([key]);
			this.handles.set(key, h);
		}
		return h;
	}

	async conn(key, warmup) {
		let c = this.conns.get(key);
		if (!c) {
			c = this.handle(key).connect();
			this.conns.set(key, c);
			for (let i = 0; i < Math.max(1, warmup); i++) await c.increment(1);
		}
		return c;
	}

	async setup({ endpoint, encoding }) {
		// devtools would add <script src="{endpoint}/devtools/mod.js"> (not served by the engine)
		this.client = this.createClient({ endpoint, encoding, devtools: false });
		return { info: { client: "rivetkit/client (esbuild browser bundle)", version: bench.jsVersion, encoding,
			browser: navigator.userAgent } };
	}

	async rtt({ key, n, warmup }) {
		const c = await this.conn(key, warmup);
		const out = [];
		for (let i = 0; i < n; i++) {
			const t0 = now();
			await c.increment(1);
			out.push(now() - t0);
		}
		return { samples_ms: out };
	}

	async pipeline({ key, n, warmup }) {
		const c = await this.conn(key, warmup);
		const t0 = now();
		await Promise.all(Array.from({ length: n }, () => c.increment(1)));
		return { elapsed_ms: now() - t0 };
	}

	async http({ key, n, warmup }) {
		const h = this.handle(key);
		if (!this.warm.has(key)) {
			this.warm.add(key);
			for (let i = 0; i < warmup; i++) await h.increment(1);
		}
		const out = [];
		for (let i = 0; i < n; i++) {
			const t0 = now();
			await h.increment(1);
			out.push(now() - t0);
		}
		return { samples_ms: out };
	}

	async connect({ key, n }) {
		const h = this.handle(key);
		if (!this.warm.has(key)) {
			this.warm.add(key);
			const c = h.connect();
			await c.increment(1);
			await c.dispose();
		}
		const out = [];
		for (let i = 0; i < n; i++) {
			const t0 = now();
			const c = h.connect();
			await c.increment(1);
			out.push(now() - t0);
			await c.dispose();
		}
		return { samples_ms: out };
	}

	async resolve({ key, n }) {
		await this.client.counter.getOrCreate([key]).resolve(); // warm: the actor exists
		const out = [];
		for (let i = 0; i < n; i++) {
			const t0 = now();
			await this.client.counter.getOrCreate([key]).resolve(); // new handle: resolve() caches per handle
			out.push(now() - t0);
		}
		return { samples_ms: out };
	}

	async fanout({ key, conns: nconns, events, window = 10 }) {
		const h = this.client.eventActor.getOrCreate([key]);
		const counts = new Array(nconns).fill(0);
		const synced = new Array(nconns).fill(false);
		let left = nconns;
		let tLast = 0;
		let finish;
		const done = new Promise((resolve) => {
			finish = resolve;
		});
		const receivers = [];
		for (let i = 0; i < nconns; i++) {
			const c = h.connect();
			c.on("tick", () => {
				counts[i] += 1;
				if (counts[i] === events) {
					left -= 1;
					if (left === 0) {
						tLast = now();
						finish();
					}
				}
			});
			c.on("sync", () => {
				synced[i] = true;
			});
			receivers.push(c);
		}
		const sender = h.connect();
		const all = [...receivers, sender];
		try {
			await withTimeout(Promise.all(all.map((c) => c.action({ name: "echo", args: [0] }))), 120000, "connections");
			const deadline = now() + 60000;
			while (!synced.every(Boolean)) {
				if (now() > deadline) throw new Error("subscriptions never became active");
				await sender.action({ name: "emit", args: ["sync", 0] });
				await sleep(20);
			}
			await sleep(100);
			const t0 = now();
			let next = 0;
			const acks = Promise.all(
				Array.from({ length: window }, async () => {
					while (next < events) {
						const i = next++;
						await sender.action({ name: "emit", args: ["tick", i] });
					}
				}),
			);
			try {
				await withTimeout(done, FANOUT_TIMEOUT_MS, "every event at every connection");
			} catch (err) {
				throw new Error(`${err.message}: received ${Math.min(...counts)}..${Math.max(...counts)} of ${events} per connection`);
			}
			const elapsed = tLast - t0;
			await acks;
			return { elapsed_ms: elapsed, delivered: counts.reduce((a, b) => a + b, 0) };
		} finally {
			await Promise.allSettled(all.map((c) => c.dispose()));
		}
	}

	async memory({ key, conns: nconns }) {
		const h = this.handle(key);
		{
			const c = h.connect();
			await c.increment(1);
			await c.dispose();
		}
		await fullGc();
		const m0 = heapBytes();
		const opened = Array.from({ length: nconns }, () => h.connect());
		await Promise.all(opened.map((c) => c.increment(1)));
		await fullGc();
		const m1 = heapBytes();
		await Promise.allSettled(opened.map((c) => c.dispose()));
		return {
			per_conn_bytes: m0 === null ? null : (m1 - m0) / nconns,
			rss_per_conn_bytes: null,
			method: "JS heap (performance.memory.usedJSHeapSize) delta after gc()",
		};
	}

	async close() {
		for (const c of this.conns.values()) await c.dispose().catch(() => {});
		if (this.client) await withTimeout(this.client.dispose(), 5000, "client.dispose()").catch(() => {});
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
		const fn = c[cmd.cmd];
		if (typeof fn !== "function" || cmd.cmd === "constructor") throw new Error(`unknown command ${cmd.cmd}`);
		return await fn.call(c, cmd);
	},

	async close() {
		for (const c of this.clients.values()) await c.close();
		if (this.glue) await this.glue(JSON.stringify({ cmd: "close", client: "page-ours/*" }));
	},
};

window.bench = bench;
