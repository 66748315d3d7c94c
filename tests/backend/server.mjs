// Starts the fixture registry with a local rivet-engine (spawned by rivetkit).
// Usually launched by harness.py, which sets HOME, RIVET_RUN_ENGINE_PORT and
// RIVET_RUN_SERVICES=0. Logs go to stdout.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { registry } from "./registry.mjs";

console.log(
	`[server] pid=${process.pid} node=${process.version} engine_port=${process.env.RIVET_RUN_ENGINE_PORT ?? "6420 (default)"} nodelay=${process.env.LD_PRELOAD?.includes("nodelay") ? "on" : "off"}`,
);

// Watchdog (Linux): if the harness that launched us dies without cleaning up
// (e.g. SIGKILL), kill our child processes (the rivet-engine runs in its own
// process group and would otherwise outlive us), remove the harness's temp dir
// (RIVETKIT_BACKEND_TEMP_DIR, if any) and exit.
function parentPid(pid) {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
		return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
	} catch {
		return undefined;
	}
}

const watchPid = Number(process.env.RIVETKIT_BACKEND_PARENT_PID || 0);
if (watchPid) {
	const timer = setInterval(() => {
		const ppid = parentPid("self");
		if (ppid === undefined || ppid === watchPid) return;
		console.log("[server] parent process is gone: killing children and exiting");
		for (const entry of readdirSync("/proc")) {
			if (!/^\d+$/.test(entry)) continue;
			if (parentPid(entry) === process.pid) {
				try {
					process.kill(Number(entry), "SIGKILL");
				} catch {}
			}
		}
		const tempDir = process.env.RIVETKIT_BACKEND_TEMP_DIR;
		if (tempDir) {
			try {
				rmSync(tempDir, { recursive: true, force: true });
			} catch {}
		}
		process.exit(1);
	}, 1000);
	timer.unref();
}

registry.start();
