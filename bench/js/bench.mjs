// Benchmark worker for the official JS client (`rivetkit/client`) on Node 22.
//
// Driven by bench/run.py: one JSON command per line on stdin, one reply per command
// on stdout as `@@BENCH@@ {json}` (other output is log noise and ignored). The
// command set mirrors bench/py_worker.py, so run.py can interleave clients round by
// round against the same backend.
//
//   node --expose-gc bench/js/bench.mjs --rivetkit <dir of the rivetkit package>
//
// Only the public client API is used: createClient, getOrCreate, connect, on, and
// the action proxies. Times are performance.now() milliseconds.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";

const MARK = "@@BENCH@@ ";
const argv = process.argv.slice(2);
const pkgDir = argv[argv.indexOf("--rivetkit") + 1];
if (argv.indexOf("--rivetkit") < 0 || !pkgDir) {
	console.error("usage: bench.mjs --rivetkit <path to node_modules/rivetkit>");
	process.exit(2);
}

function reply(obj) {
	process.stdout.write(`${MARK}${JSON.stringify(obj)}\n`);
}

function entryOf(dir) {
	// Resolve `rivetkit/client` the way Node would for an ESM import (the package
	// lives in tests/backend/node_modules, outside this script's resolution path).
	const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
	const exp = pkg.exports["./client"].import;
	return { file: join(dir, typeof exp === "string" ? exp : exp.default), version: pkg.version };
}

const now = () => performance.now();
const cpuMs = () => {
	const u = process.cpuUsage();
	return (u.user + u.system) / 1000;
};
const FANOUT_TIMEOUT_MS = 600000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, timeoutMs, what) {
	let timer;
	return Promise.race([
		promise,
		new Promise((_, reject) => {
			timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
		}),
	]).finally(() => clearTimeout(timer));
}

let createClient;
let client;
const conns = new Map();
const handles = new Map();
const warm = new Set();

function handle(key) {
	let h = handles.get(key);
	if (!h) {
		h = client.counter.getOrCreate([key]);
		handles.set(key, h);
	}
	return h;
}

async function conn(key, warmup) {
	let c = conns.get(key);
	if (!c) {
		c = handle(key).connect();
		conns.set(key, c);
		for (let i = 0; i < Math.max(1, warmup); i++) await c.increment(1);
	}
	return c;
}

const commands = {
	async setup({ endpoint, encoding }) {
		const entry = entryOf(pkgDir);
		({ createClient } = await import(pathToFileURL(entry.file).href));
		client = createClient({ endpoint, encoding });
		return { info: { client: "rivetkit/client", version: entry.version, node: process.version, encoding } };
	},

	async rtt({ key, n, warmup }) {
		const c = await conn(key, warmup);
		const out = [];
		const cpu0 = cpuMs();
		for (let i = 0; i < n; i++) {
			const t0 = now();
			await c.increment(1);
			out.push(now() - t0);
		}
		return { samples_ms: out, cpu_ms: cpuMs() - cpu0 };
	},

	async pipeline({ key, n, warmup }) {
		const c = await conn(key, warmup);
		const cpu0 = cpuMs();
		const t0 = now();
		await Promise.all(Array.from({ length: n }, () => c.increment(1)));
		const elapsed = now() - t0;
		return { elapsed_ms: elapsed, cpu_ms: cpuMs() - cpu0 };
	},

	async http({ key, n, warmup }) {
		const h = handle(key);
		if (!warm.has(key)) {
			warm.add(key);
			for (let i = 0; i < warmup; i++) await h.increment(1);
		}
		const out = [];
		const cpu0 = cpuMs();
		for (let i = 0; i < n; i++) {
			const t0 = now();
			await h.increment(1);
			out.push(now() - t0);
		}
		return { samples_ms: out, cpu_ms: cpuMs() - cpu0 };
	},

	async connect({ key, n }) {
		const h = handle(key);
		if (!warm.has(key)) {
			warm.add(key);
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
	},

	async resolve({ key, n }) {
		await client.counter.getOrCreate([key]).resolve(); // warm: the actor exists
		const out = [];
		for (let i = 0; i < n; i++) {
			const t0 = now();
			await client.counter.getOrCreate([key]).resolve(); // new handle: resolve() caches per handle
			out.push(now() - t0);
		}
		return { samples_ms: out };
	},

	async fanout({ key, conns: nconns, events, window = 10 }) {
		const h = client.eventActor.getOrCreate([key]);
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
			// connected = a first action answered on each connection
			await withTimeout(Promise.all(all.map((c) => c.action({ name: "echo", args: [0] }))), 120000, "connections");
			const deadline = now() + 60000;
			while (!synced.every(Boolean)) {
				if (now() > deadline) throw new Error("subscriptions never became active");
				await sender.action({ name: "emit", args: ["sync", 0] });
				await sleep(20);
			}
			await sleep(100); // let stray sync events drain
			const cpu0 = cpuMs();
			const t0 = now();
			let next = 0;
			// at most `window` emits in flight (1,000 at once overload the engine: it stalls)
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
			return { elapsed_ms: elapsed, delivered: counts.reduce((a, b) => a + b, 0), cpu_ms: cpuMs() - cpu0 };
		} finally {
			await Promise.allSettled(all.map((c) => c.dispose()));
		}
	},

	async memory({ key, conns: nconns }) {
		const h = handle(key);
		{
			const c = h.connect();
			await c.increment(1);
			await c.dispose();
		}
		const gc = globalThis.gc ?? (() => {});
		gc();
		await sleep(50);
		gc();
		const m0 = process.memoryUsage();
		const opened = Array.from({ length: nconns }, () => h.connect());
		await Promise.all(opened.map((c) => c.increment(1)));
		gc();
		await sleep(50);
		gc();
		const m1 = process.memoryUsage();
		await Promise.allSettled(opened.map((c) => c.dispose()));
		return {
			per_conn_bytes: (m1.heapUsed + m1.external - m0.heapUsed - m0.external) / nconns,
			rss_per_conn_bytes: (m1.rss - m0.rss) / nconns,
			method: globalThis.gc ? "V8 heapUsed+external delta after gc(), RSS delta" : "no --expose-gc: unreliable",
		};
	},
};

async function main() {
	reply({ ok: true, hello: "js", pid: process.pid });
	const rl = readline.createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
	for await (const line of rl) {
		if (!line.trim()) continue;
		const cmd = JSON.parse(line);
		const op = cmd.cmd;
		if (op === "exit") break;
		try {
			const fn = commands[op];
			if (!fn) throw new Error(`unknown command ${op}`);
			reply({ ok: true, ...(await fn(cmd)) });
		} catch (err) {
			console.error(err);
			reply({ ok: false, error: `${err?.name ?? "Error"}: ${err?.message ?? err}` });
		}
	}
	rl.close();
	try {
		for (const c of conns.values()) await c.dispose();
		if (client) await withTimeout(client.dispose(), 5000, "client.dispose()");
	} catch (err) {
		console.error(err);
	}
	process.exit(0);
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
