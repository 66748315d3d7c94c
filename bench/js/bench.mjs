// Benchmark worker for the official JS client (`rivetkit/client`) on Node 22.
//
// Driven by bench/run.py: one JSON command per line on stdin, one reply per command
// on stdout as `@@BENCH@@ {json}` (other output is log noise and ignored). The
// command set mirrors bench/py_worker.py, so run.py can interleave clients round by
// round against the same backend.
//
//   node --expose-gc bench/js/bench.mjs --rivetkit <dir of the rivetkit package>
//
// The commands themselves are in client_bench.mjs, shared with the browser page
// (bench/browser/page.mjs). Only the public client API is used. Times are
// performance.now() milliseconds; CPU is process.cpuUsage().

import { readFileSync } from "node:fs";
import { join } from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";
import { fullGc, JsBench } from "./client_bench.mjs";

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

const cpuMs = () => {
	const u = process.cpuUsage();
	return (u.user + u.system) / 1000;
};

// V8 heap + external (ArrayBuffers) after gc(), and RSS, around opening the connections
async function nodeMemory(open, nconns) {
	await fullGc();
	const m0 = process.memoryUsage();
	const cleanup = await open();
	await fullGc();
	const m1 = process.memoryUsage();
	await cleanup();
	return {
		per_conn_bytes: (m1.heapUsed + m1.external - m0.heapUsed - m0.external) / nconns,
		rss_per_conn_bytes: (m1.rss - m0.rss) / nconns,
		method: globalThis.gc ? "V8 heapUsed+external delta after gc(), RSS delta" : "no --expose-gc: unreliable",
	};
}

let bench = null; // a JsBench once set up

const commands = {
	async setup({ endpoint, encoding }) {
		const entry = entryOf(pkgDir);
		const { createClient } = await import(pathToFileURL(entry.file).href);
		bench = new JsBench(createClient({ endpoint, encoding }), { cpuMs, memory: nodeMemory });
		return { info: { client: "rivetkit/client", version: entry.version, node: process.version, encoding } };
	},
};
for (const op of ["rtt", "pipeline", "http", "connect", "resolve", "fanout", "memory"]) {
	commands[op] = (cmd) => bench[op](cmd);
}

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
	if (bench) await bench.close();
	process.exit(0);
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
