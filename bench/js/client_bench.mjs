// The benchmark commands for the official JS client (`rivetkit/client`), shared by
// its two drivers: bench/js/bench.mjs (Node 22, stdin/stdout) and
// bench/browser/page.mjs (Chromium, the same page as rivetkit_web under Pyodide).
//
// `new JsBench(client, { cpuMs, memory })`: `client` is what `createClient(...)`
// returned; `cpuMs()` (optional) the process CPU time in ms, added to the replies as
// `cpu_ms` (Node; the browser worker measures the page's main thread itself);
// `memory(h, nconns)` the environment's own memory measurement. Commands and replies
// mirror bench/py_worker.py (see its docstring). Only the public client API is used.

export const now = () => performance.now();
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const FANOUT_TIMEOUT_MS = 600000;

export function withTimeout(promise, timeoutMs, what) {
	let timer;
	return Promise.race([
		promise,
		new Promise((_, reject) => {
			timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
		}),
	]).finally(() => clearTimeout(timer));
}

export class JsBench {
	constructor(client, { cpuMs = null, memory = null } = {}) {
		this.client = client;
		this.cpuMs = cpuMs;
		this.measureMemory = memory;
		this.conns = new Map();
		this.handles = new Map();
		this.warm = new Set();
	}

	// `{...reply, cpu_ms}` when CPU is measured here
	withCpu(reply, cpu0) {
		return this.cpuMs ? { ...reply, cpu_ms: this.cpuMs() - cpu0 } : reply;
	}

	cpu() {
		return this.cpuMs ? this.cpuMs() : 0;
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

	async rtt({ key, n, warmup }) {
		const c = await this.conn(key, warmup);
		const out = [];
		const cpu0 = this.cpu();
		for (let i = 0; i < n; i++) {
			const t0 = now();
			await c.increment(1);
			out.push(now() - t0);
		}
		return this.withCpu({ samples_ms: out }, cpu0);
	}

	async pipeline({ key, n, warmup }) {
		const c = await this.conn(key, warmup);
		const cpu0 = this.cpu();
		const t0 = now();
		await Promise.all(Array.from({ length: n }, () => c.increment(1)));
		return this.withCpu({ elapsed_ms: now() - t0 }, cpu0);
	}

	async http({ key, n, warmup }) {
		const h = this.handle(key);
		if (!this.warm.has(key)) {
			this.warm.add(key);
			for (let i = 0; i < warmup; i++) await h.increment(1);
		}
		const out = [];
		const cpu0 = this.cpu();
		for (let i = 0; i < n; i++) {
			const t0 = now();
			await h.increment(1);
			out.push(now() - t0);
		}
		return this.withCpu({ samples_ms: out }, cpu0);
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
			// connected = a first action answered on each connection
			await withTimeout(Promise.all(all.map((c) => c.action({ name: "echo", args: [0] }))), 120000, "connections");
			const deadline = now() + 60000;
			while (!synced.every(Boolean)) {
				if (now() > deadline) throw new Error("subscriptions never became active");
				await sender.action({ name: "emit", args: ["sync", 0] });
				await sleep(20);
			}
			await sleep(100); // let stray sync events drain
			const cpu0 = this.cpu();
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
			return this.withCpu({ elapsed_ms: elapsed, delivered: counts.reduce((a, b) => a + b, 0) }, cpu0);
		} finally {
			await Promise.allSettled(all.map((c) => c.dispose()));
		}
	}

	async memory({ key, conns: nconns }) {
		const h = this.handle(key);
		{
			const c = h.connect(); // warm: the actor exists, lazy code loaded
			await c.increment(1);
			await c.dispose();
		}
		return await this.measureMemory(async () => {
			const opened = Array.from({ length: nconns }, () => h.connect());
			await Promise.all(opened.map((c) => c.increment(1)));
			return async () => {
				await Promise.allSettled(opened.map((c) => c.dispose()));
			};
		}, nconns);
	}

	async close() {
		for (const c of this.conns.values()) await c.dispose().catch(() => {});
		await withTimeout(this.client.dispose(), 5000, "client.dispose()").catch(() => {});
	}
}

// gc() twice with a pause (needs --expose-gc / --js-flags=--expose-gc), else nothing
export async function fullGc() {
	if (typeof globalThis.gc === "function") {
		globalThis.gc();
		await sleep(50);
		globalThis.gc();
	}
}
