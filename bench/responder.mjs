// A minimal RivetKit protocol responder for measuring what each client itself costs.
//
//   node bench/responder.mjs [--port 0] [--host 127.0.0.1] [--log] [--exit-on-stdin-eof]
//
// It answers, in-process and at once (no engine, no actor runtime, no delay), the
// requests of the RivetKit client protocol v4 (see /work/shared/protocol.md §1-4) in
// the `json`, `bare` and `cbor` encodings, the way the real engine (rivet-engine
// 2.3.19 + rivetkit 2.3.19) answers them:
//
//   GET  /metadata                              the engine's metadata JSON
//   PUT  /actors, POST /actors, GET /actors     engine REST: get-or-create, create, get by key / id
//   DELETE /actors/{id}                         destroy (its connections are closed with 1000)
//   POST /gateway/{name}/action/{action}?rvt-…  stateless action (query form; rvt-method get|getOrCreate)
//   POST /gateway/{actorId}/action/{action}     stateless action by id
//   WS   /gateway/{name}/connect?rvt-…          connection: Init, ActionRequest → ActionResponse | Error,
//   WS   /gateway/{actorId}/connect             SubscriptionRequest, Event to subscribed connections
//   GET  /__responder/stats                     not protocol: this process's CPU time and message counts
//
// The actors mirror tests/backend/registry.mjs for what the benchmarks call:
// `counter` (increment, getCount, setCount, getKey, getActorId; state per key;
// increment/setCount broadcast `newCount`) and `eventActor` (emit, emitMulti,
// echo, echoMany). Any other name is an actor without actions (action_not_found).
//
// Built on node:http and a hand-written WebSocket server (RFC 6455, no extensions:
// the engine does not negotiate permessage-deflate either) with hand-written
// BARE / CBOR / JSON framing, so that a message costs this process a few µs:
// benchmarks against it measure the clients. TCP_NODELAY on every accepted socket.
//
// Prints one line `RESPONDER {"endpoint":"http://host:port","pid":…}` on stdout when
// listening. `--log` writes every request and frame to stderr (to check what the
// clients send). `--exit-on-stdin-eof`: exit when stdin closes (the parent died).

import crypto from "node:crypto";
import net from "node:net";

// --------------------------------------------------------------------------- options

const argv = process.argv.slice(2);
function opt(name, dflt) {
	const i = argv.indexOf(name);
	return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
}
const PORT = Number(opt("--port", "0"));
const HOST = opt("--host", "127.0.0.1");
const LOG = argv.includes("--log");
const log = LOG ? (...a) => process.stderr.write(`[responder] ${a.join(" ")}\n`) : null;

const stats = { http_requests: 0, ws_connections: 0, ws_frames_in: 0, ws_frames_out: 0, actors_created: 0 };

// --------------------------------------------------------------------------- ids

const ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz";
function randomId(n) {
	const bytes = crypto.randomBytes(n);
	let s = "";
	for (let i = 0; i < n; i++) s += ALNUM[bytes[i] % 36];
	return s;
}
let rayCounter = 0;
const RAY_PREFIX = randomId(12);
function rayId() {
	return RAY_PREFIX + (++rayCounter).toString(36).padStart(16, "0") + "rs";
}
const NAMESPACE_ID = randomId(28) + "rs";

// --------------------------------------------------------------------------- output buffer

let W = Buffer.allocUnsafe(1 << 16);
let WP = 0;
function reserve(n) {
	if (WP + n <= W.length) return;
	let size = W.length * 2;
	while (size < WP + n) size *= 2;
	const next = Buffer.allocUnsafe(size);
	W.copy(next, 0, 0, WP);
	W = next;
}
function wByte(b) {
	reserve(1);
	W[WP++] = b;
}
function wBytes(buf) {
	reserve(buf.length);
	buf.copy ? buf.copy(W, WP) : W.set(buf, WP);
	WP += buf.length;
}
function wTake() {
	const out = Buffer.from(W.subarray(0, WP)); // a copy: W is reused
	WP = 0;
	return out;
}

// --------------------------------------------------------------------------- CBOR

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
let B = null; // input buffer being decoded
let P = 0; // position in it

function need(n) {
	if (P + n > B.length) throw new Error("CBOR ends early");
}
// the fixed-size big-endian number at P (`read` is a Buffer method such as readUInt16BE)
function take(n, read) {
	need(n);
	const v = read.call(B, P);
	P += n;
	return v;
}
function cborLen(ai) {
	if (ai < 24) return ai;
	if (ai === 24) return take(1, B.readUInt8);
	if (ai === 25) return take(2, B.readUInt16BE);
	if (ai === 26) return take(4, B.readUInt32BE);
	if (ai === 27) {
		const v = take(8, B.readBigUInt64BE);
		return v <= MAX_SAFE ? Number(v) : v;
	}
	throw new Error(`unsupported CBOR length ${ai}`);
}
function cborItem(depth) {
	if (depth > 256) throw new Error("CBOR nested too deeply");
	need(1);
	const ib = B[P++];
	const mt = ib >> 5;
	const ai = ib & 31;
	switch (mt) {
		case 0:
			return cborLen(ai);
		case 1: {
			const n = cborLen(ai);
			return typeof n === "bigint" ? -1n - n : -1 - n;
		}
		case 2: {
			const n = Number(cborLen(ai));
			need(n);
			const v = new Uint8Array(B.subarray(P, P + n));
			P += n;
			return v;
		}
		case 3: {
			const n = Number(cborLen(ai));
			need(n);
			const s = B.toString("utf8", P, P + n);
			P += n;
			return s;
		}
		case 4: {
			const n = Number(cborLen(ai));
			const a = new Array(n);
			for (let i = 0; i < n; i++) a[i] = cborItem(depth + 1);
			return a;
		}
		case 5: {
			const n = Number(cborLen(ai));
			const o = {};
			for (let i = 0; i < n; i++) {
				const k = cborItem(depth + 1);
				o[k] = cborItem(depth + 1);
			}
			return o;
		}
		case 6: {
			const tag = cborLen(ai);
			const v = cborItem(depth + 1);
			if ((tag === 2 || tag === 3) && v instanceof Uint8Array) {
				let n = 0n;
				for (const b of v) n = (n << 8n) | BigInt(b);
				return tag === 2 ? n : -1n - n;
			}
			return v;
		}
		default: {
			if (ai === 20) return false;
			if (ai === 21) return true;
			if (ai === 22) return null;
			if (ai === 23) return undefined;
			if (ai === 25) {
				const v = take(2, B.readUInt16BE);
				const e = (v >> 10) & 0x1f;
				const m = v & 0x3ff;
				const s = v & 0x8000 ? -1 : 1;
				if (e === 0) return s * m * 2 ** -24;
				if (e === 31) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
				return s * (1 + m / 1024) * 2 ** (e - 15);
			}
			if (ai === 26) return take(4, B.readFloatBE);
			if (ai === 27) return take(8, B.readDoubleBE);
			throw new Error(`unsupported CBOR simple value ${ai}`);
		}
	}
}
function cborDecode(buf, start = 0, end = buf.length) {
	const saveB = B;
	const saveP = P;
	B = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
	P = 0;
	try {
		const v = cborItem(0);
		if (P !== B.length) throw new Error("trailing bytes after CBOR item");
		return v;
	} finally {
		B = saveB;
		P = saveP;
	}
}

function cborHead(mt, n) {
	const m = mt << 5;
	if (typeof n === "bigint") {
		reserve(9);
		W[WP++] = m | 27;
		W.writeBigUInt64BE(n, WP);
		WP += 8;
	} else if (n < 24) {
		reserve(1);
		W[WP++] = m | n;
	} else if (n < 0x100) {
		reserve(2);
		W[WP++] = m | 24;
		W[WP++] = n;
	} else if (n < 0x10000) {
		reserve(3);
		W[WP++] = m | 25;
		W.writeUInt16BE(n, WP);
		WP += 2;
	} else if (n < 0x100000000) {
		reserve(5);
		W[WP++] = m | 26;
		W.writeUInt32BE(n, WP);
		WP += 4;
	} else {
		reserve(9);
		W[WP++] = m | 27;
		W.writeBigUInt64BE(BigInt(n), WP);
		WP += 8;
	}
}
function cborString(s) {
	const n = Buffer.byteLength(s);
	cborHead(3, n);
	reserve(n);
	WP += W.write(s, WP, "utf8");
}
const U64 = 1n << 64n;
/** A uint always written in the 8-byte form (action ids: the JS client's cbor-x reads those as BigInt). */
class Uint64 {
	constructor(v) {
		this.v = BigInt(v);
	}
}
function cborWrite(v) {
	if (v === null) wByte(0xf6);
	else if (v instanceof Uint64) {
		reserve(9);
		W[WP++] = 0x1b;
		W.writeBigUInt64BE(v.v, WP);
		WP += 8;
	}
	else if (v === undefined) wByte(0xf7);
	else if (v === true) wByte(0xf5);
	else if (v === false) wByte(0xf4);
	else if (typeof v === "number") {
		if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) {
			if (v >= 0) cborHead(0, v);
			else cborHead(1, -1 - v);
		} else {
			reserve(9);
			W[WP++] = 0xfb;
			W.writeDoubleBE(v, WP);
			WP += 8;
		}
	} else if (typeof v === "bigint") {
		if (v >= 0n && v < U64) cborHead(0, v <= MAX_SAFE ? Number(v) : v);
		else if (v < 0n && v >= -U64) cborHead(1, -1n - v <= MAX_SAFE ? Number(-1n - v) : -1n - v);
		else {
			let mag = v >= 0n ? v : -1n - v;
			const bytes = [];
			while (mag > 0n) {
				bytes.unshift(Number(mag & 0xffn));
				mag >>= 8n;
			}
			cborHead(6, v >= 0n ? 2 : 3);
			cborHead(2, bytes.length);
			wBytes(Buffer.from(bytes));
		}
	} else if (typeof v === "string") cborString(v);
	else if (v instanceof Uint8Array) {
		cborHead(2, v.length);
		wBytes(v);
	} else if (Array.isArray(v)) {
		cborHead(4, v.length);
		for (const x of v) cborWrite(x);
	} else {
		const keys = Object.keys(v);
		cborHead(5, keys.length);
		for (const k of keys) {
			cborString(k);
			cborWrite(v[k]);
		}
	}
}
function cborEncode(v) {
	cborWrite(v);
	return wTake();
}

// --------------------------------------------------------------------------- BARE (client protocol v4)

function bareUint(n) {
	if (typeof n === "bigint") {
		while (n >= 0x80n) {
			wByte(Number(n & 0x7fn) | 0x80);
			n >>= 7n;
		}
		wByte(Number(n));
		return;
	}
	reserve(10);
	while (n >= 0x80) {
		W[WP++] = (n % 0x80) | 0x80;
		n = Math.floor(n / 0x80);
	}
	W[WP++] = n;
}
function bareStr(s) {
	const n = Buffer.byteLength(s);
	bareUint(n);
	reserve(n);
	WP += W.write(s, WP, "utf8");
}
function bareVersion() {
	reserve(2);
	W[WP++] = 4; // u16le version 4
	W[WP++] = 0;
}
/** data(CBOR(value)) at the write position: CBOR first, then the length in front. */
function bareCbor(value) {
	const start = WP;
	cborWrite(value);
	const body = Buffer.from(W.subarray(start, WP));
	WP = start;
	bareUint(body.length);
	wBytes(body);
}
function bareActor(actor) {
	wByte(1);
	bareStr(actor.id);
	bareUint(1); // generation
	wByte(1);
	bareStr(actor.key);
}

class BareReader {
	constructor(buf) {
		if (buf.length < 2 || buf[0] !== 4 || buf[1] !== 0) throw new Error("not a BARE v4 message");
		this.buf = buf;
		this.pos = 2;
	}
	u8() {
		if (this.pos >= this.buf.length) throw new Error("BARE message ends early");
		return this.buf[this.pos++];
	}
	uint() {
		let result = 0;
		let mul = 1;
		for (let i = 0; i < 10; i++) {
			const b = this.u8();
			result += (b & 0x7f) * mul;
			if (b < 0x80) {
				if (result > Number.MAX_SAFE_INTEGER) throw new Error("BARE uint beyond 2^53");
				return result;
			}
			mul *= 0x80;
		}
		throw new Error("BARE uint too long");
	}
	dataRange() {
		const n = this.uint();
		const start = this.pos;
		if (start + n > this.buf.length) throw new Error("BARE data longer than the message");
		this.pos += n;
		return [start, start + n];
	}
	str() {
		const [a, b] = this.dataRange();
		return this.buf.toString("utf8", a, b);
	}
	cbor() {
		const [a, b] = this.dataRange();
		return cborDecode(this.buf, a, b);
	}
	end() {
		if (this.pos !== this.buf.length) throw new Error("trailing bytes after BARE message");
	}
}

// --------------------------------------------------------------------------- encodings
//
// decode(frame) → { tag: "action", id, name, args } | { tag: "sub", name, subscribe }
// (id: a decimal string for json, a number/BigInt for cbor and bare; sent back as received)

function jsonStr(s) {
	return JSON.stringify(s);
}
function jsonValue(v) {
	return v === undefined ? "null" : JSON.stringify(v);
}
function jsonErrorVal(err, actor) {
	let s = `"group":${jsonStr(err.group)},"code":${jsonStr(err.code)},"message":${jsonStr(err.message)}`;
	if (err.metadata !== undefined) s += `,"metadata":${jsonValue(err.metadata)}`;
	if (actor) s += `,"actor":{"actorId":${jsonStr(actor.id)},"generation":1,"key":${jsonStr(actor.key)}}`;
	return s;
}

const ENCODINGS = {
	json: {
		binary: false,
		contentType: "application/json",
		decode(frame) {
			const body = JSON.parse(typeof frame === "string" ? frame : frame.toString("utf8")).body;
			const val = body.val;
			if (body.tag === "ActionRequest") {
				const id = Array.isArray(val.id) ? String(val.id[1]) : String(val.id);
				return { tag: "action", id, name: val.name, args: val.args ?? [] };
			}
			if (body.tag === "SubscriptionRequest") return { tag: "sub", name: val.eventName, subscribe: !!val.subscribe };
			throw new Error(`unknown message tag ${body.tag}`);
		},
		init(actorId, connId) {
			return `{"body":{"tag":"Init","val":{"actorId":${jsonStr(actorId)},"connectionId":"${connId}"}}}`;
		},
		actionResponse(id, output) {
			return `{"body":{"tag":"ActionResponse","val":{"id":["$BigInt","${id}"],"output":${jsonValue(output)}}}}`;
		},
		event(name, args) {
			return `{"body":{"tag":"Event","val":{"name":${jsonStr(name)},"args":${JSON.stringify(args)}}}}`;
		},
		error(err, actionId, actor) {
			const aid = actionId === null ? "null" : `["$BigInt","${actionId}"]`;
			return `{"body":{"tag":"Error","val":{${jsonErrorVal(err, actor)},"actionId":${aid}}}}`;
		},
		httpArgs(body) {
			if (body.length === 0) return [];
			const args = JSON.parse(body.toString("utf8")).args;
			return args ?? [];
		},
		httpOutput(output) {
			return `{"output":${jsonValue(output)}}`;
		},
		httpError(err, actor) {
			return `{${jsonErrorVal(err, actor)}}`;
		},
	},

	cbor: {
		binary: true,
		contentType: "application/octet-stream",
		decode(frame) {
			const body = cborDecode(frame).body;
			const val = body.val;
			if (body.tag === "ActionRequest") return { tag: "action", id: val.id, name: val.name, args: val.args ?? [] };
			if (body.tag === "SubscriptionRequest") return { tag: "sub", name: val.eventName, subscribe: !!val.subscribe };
			throw new Error(`unknown message tag ${body.tag}`);
		},
		init(actorId, connId) {
			return cborEncode({ body: { tag: "Init", val: { actorId, connectionId: connId } } });
		},
		actionResponse(id, output) {
			return cborEncode({ body: { tag: "ActionResponse", val: { id: new Uint64(id), output: output ?? null } } });
		},
		event(name, args) {
			return cborEncode({ body: { tag: "Event", val: { name, args } } });
		},
		error(err, actionId, actor) {
			const val = { group: err.group, code: err.code, message: err.message };
			if (err.metadata !== undefined) val.metadata = err.metadata;
			val.actionId = actionId === null ? null : new Uint64(actionId);
			if (actor) val.actor = { actorId: actor.id, generation: 1, key: actor.key };
			return cborEncode({ body: { tag: "Error", val } });
		},
		httpArgs(body) {
			if (body.length === 0) return [];
			return cborDecode(body).args ?? [];
		},
		httpOutput(output) {
			return cborEncode({ output: output ?? null });
		},
		httpError(err, actor) {
			const val = { group: err.group, code: err.code, message: err.message };
			if (err.metadata !== undefined) val.metadata = err.metadata;
			if (actor) val.actor = { actorId: actor.id, generation: 1, key: actor.key };
			return cborEncode(val);
		},
	},

	bare: {
		binary: true,
		contentType: "application/octet-stream",
		decode(frame) {
			const r = new BareReader(frame);
			const tag = r.u8();
			let msg;
			if (tag === 0) {
				const id = r.uint();
				const name = r.str();
				msg = { tag: "action", id, name, args: r.cbor() };
			} else if (tag === 1) {
				const name = r.str();
				msg = { tag: "sub", name, subscribe: r.u8() === 1 };
			} else throw new Error(`unknown BARE message tag ${tag}`);
			r.end();
			return msg;
		},
		init(actorId, connId) {
			bareVersion();
			wByte(0);
			bareStr(actorId);
			bareStr(connId);
			return wTake();
		},
		actionResponse(id, output) {
			bareVersion();
			wByte(2);
			bareUint(id);
			bareCbor(output ?? null);
			return wTake();
		},
		event(name, args) {
			bareVersion();
			wByte(3);
			bareStr(name);
			bareCbor(args);
			return wTake();
		},
		error(err, actionId, actor) {
			bareVersion();
			wByte(1);
			bareStr(err.group);
			bareStr(err.code);
			bareStr(err.message);
			if (err.metadata === undefined) wByte(0);
			else {
				wByte(1);
				bareCbor(err.metadata);
			}
			if (actionId === null) wByte(0);
			else {
				wByte(1);
				bareUint(actionId);
			}
			if (actor) bareActor(actor);
			else wByte(0);
			return wTake();
		},
		httpArgs(body) {
			const r = new BareReader(body);
			const args = r.cbor();
			r.end();
			return args;
		},
		httpOutput(output) {
			bareVersion();
			bareCbor(output ?? null);
			return wTake();
		},
		httpError(err, actor) {
			bareVersion();
			bareStr(err.group);
			bareStr(err.code);
			bareStr(err.message);
			if (err.metadata === undefined) wByte(0);
			else {
				wByte(1);
				bareCbor(err.metadata);
			}
			if (actor) bareActor(actor);
			else wByte(0);
			return wTake();
		},
	},
};

// --------------------------------------------------------------------------- actors

class RivetError extends Error {
	constructor(group, code, message, status = 500, metadata = undefined) {
		super(message);
		this.group = group;
		this.code = code;
		this.status = status;
		this.metadata = metadata;
	}
}

// mirrors tests/backend/registry.mjs (only what the benchmarks and the smoke test need)
const DEFINITIONS = {
	counter: {
		state: () => ({ count: 0 }),
		actions: {
			increment(c, amount = 1) {
				c.state.count += amount;
				broadcast(c.actor, "newCount", [c.state.count]);
				return c.state.count;
			},
			getCount: (c) => c.state.count,
			setCount(c, n) {
				c.state.count = n;
				broadcast(c.actor, "newCount", [c.state.count]);
				return c.state.count;
			},
			getKey: (c) => c.actor.keyParts,
			getActorId: (c) => c.actor.id,
		},
	},
	eventActor: {
		state: () => ({}),
		actions: {
			emitMulti(c, a, b, d) {
				broadcast(c.actor, "multi", [a, b, d]);
				return null;
			},
			emit(c, name, ...args) {
				broadcast(c.actor, name, args);
				return null;
			},
			echo: (_c, x) => x,
			echoMany: (_c, ...args) => args,
		},
	},
};
const NO_ACTIONS = { state: () => ({}), actions: {} };

const actorsById = new Map();
const actorsByKey = new Map(); // `${name}\n${serializedKey}` → actor

// REST key serialization (protocol.md §2b)
function serializeKey(parts) {
	if (parts.length === 0) return "/";
	return parts.map((p) => (p === "" ? "\\0" : p.replace(/\\/g, "\\\\").replace(/\//g, "\\/"))).join("/");
}
function deserializeKey(s) {
	if (s === undefined || s === null || s === "/") return [];
	const parts = [];
	let cur = "";
	let esc = false;
	let empty = false;
	for (const ch of s) {
		if (esc) {
			if (ch === "0") empty = true;
			else cur += ch;
			esc = false;
		} else if (ch === "\\") esc = true;
		else if (ch === "/") {
			parts.push(empty ? "" : cur);
			cur = "";
			empty = false;
		} else cur += ch;
	}
	parts.push(empty ? "" : cur);
	return parts;
}

function findActor(name, key) {
	return actorsByKey.get(`${name}\n${key}`);
}
function createActor(name, key) {
	const def = DEFINITIONS[name] ?? NO_ACTIONS;
	const id = randomId(28) + "rs";
	const actor = {
		id,
		name,
		key,
		keyParts: deserializeKey(key),
		def,
		state: def.state(),
		conns: new Set(),
		subs: new Map(), // event name → Set of connections
		createTs: Date.now(),
		headers: null,
	};
	actor.headers = {
		"x-rivet-actor": id,
		"x-rivet-actor-key": key,
		"x-rivet-actor-generation": "1",
		"access-control-allow-origin": "*",
		"access-control-allow-credentials": "true",
		"access-control-expose-headers": "*",
	};
	actorsById.set(id, actor);
	actorsByKey.set(`${name}\n${key}`, actor);
	stats.actors_created += 1;
	return actor;
}
function getOrCreate(name, key) {
	const found = findActor(name, key);
	return found ? [found, false] : [createActor(name, key), true];
}
function destroyActor(actor) {
	actorsById.delete(actor.id);
	actorsByKey.delete(`${actor.name}\n${actor.key}`);
	for (const conn of actor.conns) wsClose(conn, 1000, "");
}
function actorJson(a) {
	return {
		actor_id: a.id,
		name: a.name,
		key: a.key,
		namespace_id: NAMESPACE_ID,
		datacenter: "default",
		runner_name_selector: "default",
		crash_policy: "sleep",
		create_ts: a.createTs,
		start_ts: a.createTs,
		pending_allocation_ts: null,
		connectable_ts: a.createTs,
		sleep_ts: null,
		reschedule_ts: null,
		destroy_ts: null,
	};
}

function runAction(actor, name, args) {
	const fn = Object.hasOwn(actor.def.actions, name) ? actor.def.actions[name] : undefined;
	if (!fn) throw new RivetError("actor", "action_not_found", `Action \`${name}\` was not found.`, 404);
	if (!Array.isArray(args)) args = [args];
	try {
		return fn({ actor, state: actor.state }, ...args);
	} catch (err) {
		if (LOG) log("action threw:", err?.stack ?? err);
		throw new RivetError("rivetkit", "internal_error", "An internal error occurred", 500);
	}
}

function broadcast(actor, name, args) {
	const subs = actor.subs.get(name);
	if (!subs || subs.size === 0) return;
	const frames = {}; // encoded once per encoding
	for (const conn of subs) {
		let frame = frames[conn.enc];
		if (frame === undefined) {
			const enc = ENCODINGS[conn.enc];
			frame = frames[conn.enc] = wsFrame(enc.binary ? 2 : 1, enc.event(name, args));
		}
		wsWrite(conn, frame);
	}
}

/**
 * The actor a gateway path segment + query names, or a RivetError.
 * Query form when rvt-method is present (rvt-key = parts joined by ","), else by id.
 */
function gatewayActor(target, query) {
	const method = query?.get("rvt-method");
	if (method) {
		const rawKey = query.get("rvt-key");
		const key = serializeKey(rawKey === null ? [] : rawKey.split(","));
		if (method === "getOrCreate") return getOrCreate(target, key)[0];
		if (method === "get") {
			const a = findActor(target, key);
			if (!a) throw new RivetError("actor", "not_found", "The actor does not exist or was destroyed.", 404);
			return a;
		}
		throw new RivetError("guard", "query_invalid_params", `invalid rvt-method ${method}`, 400);
	}
	const at = target.indexOf("@");
	const id = at >= 0 ? target.slice(0, at) : target;
	const a = actorsById.get(id);
	if (!a) throw new RivetError("actor", "not_found", "The actor does not exist or was destroyed.", 404);
	return a;
}

// --------------------------------------------------------------------------- WebSocket

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** One complete unmasked server frame (FIN set). */
function wsFrame(opcode, payload) {
	const isStr = typeof payload === "string";
	const n = isStr ? Buffer.byteLength(payload) : payload.length;
	const hdr = n < 126 ? 2 : n < 0x10000 ? 4 : 10;
	const out = Buffer.allocUnsafe(hdr + n);
	out[0] = 0x80 | opcode;
	if (hdr === 2) out[1] = n;
	else if (hdr === 4) {
		out[1] = 126;
		out.writeUInt16BE(n, 2);
	} else {
		out[1] = 127;
		out.writeBigUInt64BE(BigInt(n), 2);
	}
	if (isStr) out.write(payload, hdr, "utf8");
	else payload.copy(out, hdr);
	return out;
}

function wsWrite(conn, frame) {
	if (conn.closed) return;
	stats.ws_frames_out += 1;
	conn.sock.write(frame);
}

function wsSend(conn, payload) {
	wsWrite(conn, wsFrame(ENCODINGS[conn.enc].binary ? 2 : 1, payload));
}

function wsClose(conn, code, reason) {
	if (conn.closed) return;
	const r = Buffer.from(reason, "utf8");
	const payload = Buffer.allocUnsafe(2 + r.length);
	payload.writeUInt16BE(code, 0);
	r.copy(payload, 2);
	conn.sock.write(wsFrame(8, payload));
	conn.closed = true;
	conn.sock.end();
	detach(conn);
}

function detach(conn) {
	if (!conn.actor) return;
	conn.actor.conns.delete(conn);
	for (const name of conn.subs) conn.actor.subs.get(name)?.delete(conn);
	conn.subs.clear();
	conn.actor = null;
}

function onMessage(conn, payload, binary) {
	stats.ws_frames_in += 1;
	if (LOG) log(`ws ${conn.id.slice(0, 8)} <-`, binary ? payload.toString("hex") : payload.toString("utf8"));
	if (!conn.actor) return;
	const enc = ENCODINGS[conn.enc];
	let msg;
	try {
		msg = enc.decode(binary ? payload : payload.toString("utf8"));
	} catch (err) {
		if (LOG) log("undecodable frame:", err.message);
		wsSend(conn, enc.error({ group: "message", code: "malformed", message: String(err.message) }, null, null));
		wsClose(conn, 1011, "message.malformed");
		return;
	}
	if (msg.tag === "action") {
		const actor = conn.actor;
		let out;
		try {
			out = enc.actionResponse(msg.id, runAction(actor, msg.name, msg.args));
		} catch (err) {
			const e = err instanceof RivetError ? err : new RivetError("rivetkit", "internal_error", "An internal error occurred");
			out = enc.error(e, msg.id, actor);
		}
		wsSend(conn, out);
	} else if (msg.subscribe) {
		if (!conn.subs.has(msg.name)) {
			conn.subs.add(msg.name);
			let set = conn.actor.subs.get(msg.name);
			if (!set) conn.actor.subs.set(msg.name, (set = new Set()));
			set.add(conn);
		}
	} else if (conn.subs.delete(msg.name)) {
		conn.actor.subs.get(msg.name)?.delete(conn);
	}
}

function unmask(buf, start, end, m0, m1, m2, m3) {
	let i = start;
	for (; i + 4 <= end; i += 4) {
		buf[i] ^= m0;
		buf[i + 1] ^= m1;
		buf[i + 2] ^= m2;
		buf[i + 3] ^= m3;
	}
	const mask = [m0, m1, m2, m3];
	for (let j = 0; i < end; i++, j++) buf[i] ^= mask[j];
}

function onSocketData(conn, chunk) {
	let buf = conn.pending ? Buffer.concat([conn.pending, chunk]) : chunk;
	let pos = 0;
	while (!conn.closed) {
		const left = buf.length - pos;
		if (left < 2) break;
		const b0 = buf[pos];
		const b1 = buf[pos + 1];
		let len = b1 & 0x7f;
		let off = pos + 2;
		if (len === 126) {
			if (left < 4) break;
			len = buf.readUInt16BE(pos + 2);
			off += 2;
		} else if (len === 127) {
			if (left < 10) break;
			len = Number(buf.readBigUInt64BE(pos + 2));
			off += 8;
		}
		const masked = (b1 & 0x80) !== 0;
		if (masked) off += 4;
		if (buf.length < off + len) break;
		if (masked) unmask(buf, off, off + len, buf[off - 4], buf[off - 3], buf[off - 2], buf[off - 1]);
		const payload = buf.subarray(off, off + len);
		pos = off + len;
		const fin = (b0 & 0x80) !== 0;
		const op = b0 & 0x0f;
		if (op === 0x8) {
			// close: answer with the same code, then end
			const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1000;
			if (LOG) log(`ws ${conn.id.slice(0, 8)} <- close ${code}`);
			wsClose(conn, code === 1005 || code === 1006 ? 1000 : code, "");
			break;
		} else if (op === 0x9) conn.sock.write(wsFrame(0xa, Buffer.from(payload)));
		else if (op === 0xa) {
			// pong: nothing to do
		} else if (op === 0x0) {
			if (!conn.fragments) continue;
			conn.fragments.push(Buffer.from(payload));
			if (fin) {
				const whole = Buffer.concat(conn.fragments);
				const binary = conn.fragBinary;
				conn.fragments = null;
				onMessage(conn, whole, binary);
			}
		} else if (op === 0x1 || op === 0x2) {
			if (fin) onMessage(conn, payload, op === 0x2);
			else {
				conn.fragments = [Buffer.from(payload)];
				conn.fragBinary = op === 0x2;
			}
		}
	}
	conn.pending = pos < buf.length ? Buffer.from(buf.subarray(pos)) : null;
}

function onUpgrade(req, sock, head) {
	sock.setNoDelay(true);
	stats.http_requests += 1;
	const url = req.url;
	const qi = url.indexOf("?");
	const path = qi >= 0 ? url.slice(0, qi) : url;
	const query = qi >= 0 ? new URLSearchParams(url.slice(qi + 1)) : null;
	const key = req.headers["sec-websocket-key"];
	if (LOG) log("upgrade", url, "protocols:", req.headers["sec-websocket-protocol"]);
	const m = /^\/gateway\/([^/]+)\/connect$/.exec(path);
	if (!key || (req.headers.upgrade ?? "").toLowerCase() !== "websocket" || !m) {
		sock.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
		return;
	}
	const protocols = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((s) => s.trim());
	let encName = "json";
	for (const p of protocols) if (p.startsWith("rivet_encoding.")) encName = p.slice("rivet_encoding.".length);
	const accept = crypto.createHash("sha1").update(key + WS_GUID).digest("base64");
	const ray = rayId();
	const headerText =
		"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n" +
		`sec-websocket-accept: ${accept}\r\nsec-websocket-protocol: rivet\r\nx-rivet-ray-id: ${ray}\r\n` +
		"access-control-allow-origin: *\r\naccess-control-allow-credentials: true\r\n" +
		"access-control-expose-headers: *\r\n\r\n";
	const conn = {
		id: crypto.randomUUID(),
		sock,
		enc: encName,
		actor: null,
		subs: new Set(),
		closed: false,
		pending: null,
		fragments: null,
		fragBinary: false,
	};
	stats.ws_connections += 1;
	sock.on("data", (chunk) => onSocketData(conn, chunk));
	sock.on("close", () => {
		conn.closed = true;
		detach(conn);
	});
	sock.on("error", () => {});
	let actor;
	let failure = null;
	if (!ENCODINGS[encName]) failure = new RivetError("guard", "invalid_encoding", `unknown encoding ${encName}`, 400);
	else {
		try {
			actor = gatewayActor(decodeURIComponent(m[1]), query);
		} catch (err) {
			failure = err instanceof RivetError ? err : new RivetError("core", "internal_error", String(err), 500);
		}
	}
	if (failure) {
		// like the gateway: upgrade, then close 1011 with `group.code#rayId`
		sock.write(headerText);
		conn.enc = "json";
		wsClose(conn, 1011, `${failure.group}.${failure.code}#${ray}`);
		return;
	}
	conn.actor = actor;
	actor.conns.add(conn);
	const enc = ENCODINGS[encName];
	const init = wsFrame(enc.binary ? 2 : 1, enc.init(actor.id, conn.id));
	stats.ws_frames_out += 1;
	sock.write(Buffer.concat([Buffer.from(headerText, "latin1"), init]));
	if (head && head.length) onSocketData(conn, Buffer.from(head));
}

// --------------------------------------------------------------------------- HTTP

const METADATA = JSON.stringify({
	runtime: "engine",
	version: "2.3.19",
	git_sha: "responder",
	build_timestamp: "1970-01-01T00:00:00Z",
	rustc_version: "none",
	rustc_host: "none",
	cargo_target: "none",
	cargo_profile: "release",
	epoxy_protocol_version: 3,
	envoy_protocol_version: 8,
	responder: "rivetkit_web bench/responder.mjs (no engine)",
});
const REST_HEADERS = {
	"content-type": "application/json",
	vary: "origin, access-control-request-method, access-control-request-headers",
	"access-control-allow-credentials": "true",
};

function sendJsonError(res, err, actor) {
	const headers = actor ? { ...actor.headers } : { ...REST_HEADERS };
	headers["content-type"] = "application/json";
	send(res, err.status ?? 500, headers, ENCODINGS.json.httpError(err, actor));
}

/** One request (`req`: method, url, headers with lower-case names; `res`: its connection). */
function onRequest(req, res, body) {
	const url = req.url;
	const qi = url.indexOf("?");
	const path = qi >= 0 ? url.slice(0, qi) : url;
	const method = req.method;
	if (path === "/__responder/stats") {
		const cpu = process.cpuUsage();
		const mem = process.memoryUsage();
		const statsBody = JSON.stringify({ ...stats, cpu_user_us: cpu.user, cpu_system_us: cpu.system, rss: mem.rss,
			actors: actorsById.size, open_connections: [...actorsById.values()].reduce((n, a) => n + a.conns.size, 0) });
		send(res, 200, { "content-type": "application/json" }, statsBody);
		return;
	}
	stats.http_requests += 1;
	if (LOG) log(method, url, JSON.stringify(req.headers), body.length ? body.toString(body[0] === 0x7b ? "utf8" : "hex") : "");
	const query = qi >= 0 ? new URLSearchParams(url.slice(qi + 1)) : null;
	let actor = null;
	try {
		if (path.startsWith("/gateway/")) {
			const m = /^\/gateway\/([^/]+)\/action\/([^/]+)$/.exec(path);
			if (!m || method !== "POST") throw new RivetError("guard", "no_route", "No route found", 404);
			actor = gatewayActor(decodeURIComponent(m[1]), query);
			const encName = req.headers["x-rivet-encoding"] ?? "json";
			const enc = ENCODINGS[encName];
			if (!enc) throw new RivetError("core", "internal_error", `unknown encoding ${encName}`, 400);
			let args;
			try {
				args = enc.httpArgs(body);
			} catch (err) {
				throw new RivetError("core", "internal_error", `malformed body: ${err.message}`, 400);
			}
			let out;
			let status = 200;
			try {
				out = enc.httpOutput(runAction(actor, decodeURIComponent(m[2]), args));
			} catch (err) {
				if (!(err instanceof RivetError)) throw err;
				status = err.status;
				out = enc.httpError(err, actor);
			}
			const headers = { ...actor.headers };
			headers["content-type"] = enc.contentType;
			send(res, status, headers, out);
			return;
		}
		if (path === "/metadata" && method === "GET") {
			send(res, 200, { ...REST_HEADERS }, METADATA);
			return;
		}
		if (path === "/actors") {
			if (method === "PUT" || method === "POST") {
				const req = JSON.parse(body.toString("utf8"));
				if (typeof req.name !== "string" || typeof req.key !== "string") {
					throw new RivetError("api", "bad_request", "name and key are required", 400);
				}
				if (method === "POST") {
					if (findActor(req.name, req.key)) {
						throw new RivetError("actor", "duplicate_key", "Actor key already in use.", 400);
					}
					send(res, 200, { ...REST_HEADERS }, JSON.stringify({ actor: actorJson(createActor(req.name, req.key)) }));
					return;
				}
				const [a, created] = getOrCreate(req.name, req.key);
				send(res, 200, { ...REST_HEADERS }, JSON.stringify({ actor: actorJson(a), created }));
				return;
			}
			if (method === "GET") {
				let found = [];
				const ids = query?.get("actor_ids");
				if (ids) found = ids.split(",").map((id) => actorsById.get(id)).filter(Boolean);
				else if (query?.get("name") != null && query.get("key") != null) {
					const a = findActor(query.get("name"), query.get("key"));
					if (a) found = [a];
				} else if (query?.get("name") != null) {
					found = [...actorsById.values()].filter((a) => a.name === query.get("name"));
				}
				send(res, 200, { ...REST_HEADERS }, JSON.stringify({ actors: found.map(actorJson), pagination: { cursor: null } }));
				return;
			}
		}
		const del = /^\/actors\/([^/]+)$/.exec(path);
		if (del && method === "DELETE") {
			const a = actorsById.get(decodeURIComponent(del[1]));
			if (!a) throw new RivetError("actor", "not_found", "The actor does not exist or was destroyed.", 404);
			destroyActor(a);
			send(res, 200, { ...REST_HEADERS }, "{}");
			return;
		}
		throw new RivetError("guard", "no_route", "No route found", 404);
	} catch (err) {
		if (err instanceof RivetError) sendJsonError(res, err, actor);
		else sendJsonError(res, new RivetError("core", "internal_error", String(err?.message ?? err), 400), actor);
	}
}

// A hand-written HTTP/1.1 server on node:net: node:http costs ~200 µs of CPU a request on
// this machine, about as much as the clients' own HTTP stacks; this costs a few tens.
// Keep-alive without idle timeout, content-length and chunked request bodies, pipelining,
// and the WebSocket upgrade (handed to onUpgrade with the bytes that follow the head).

const CRLF2 = Buffer.from("\r\n\r\n");
const MAX_HEAD = 64 * 1024;
const REASONS = { 101: "Switching Protocols", 200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found",
	500: "Internal Server Error" };
let dateHeader = new Date().toUTCString();
setInterval(() => {
	dateHeader = new Date().toUTCString();
}, 1000).unref();

function send(res, status, headers, body) {
	const len = typeof body === "string" ? Buffer.byteLength(body) : body.length;
	let head = `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\n`;
	for (const k in headers) head += `${k}: ${headers[k]}\r\n`;
	head += `content-length: ${len}\r\nx-rivet-ray-id: ${rayId()}\r\ndate: ${dateHeader}\r\n`;
	if (res.closeAfter) head += "connection: close\r\n";
	head += "\r\n";
	const hlen = head.length; // latin1: one byte per character
	const out = Buffer.allocUnsafe(hlen + len);
	out.write(head, 0, hlen, "latin1");
	if (typeof body === "string") out.write(body, hlen, len, "utf8");
	else body.copy ? body.copy(out, hlen) : out.set(body, hlen);
	res.sock.write(out);
	if (res.closeAfter) res.sock.end();
}

class HttpConn {
	constructor(sock) {
		this.sock = sock;
		this.buf = null;
		this.closeAfter = false;
		this.onData = (chunk) => this.feed(chunk);
		sock.setNoDelay(true);
		sock.on("data", this.onData);
		sock.on("error", () => {});
	}

	fail(status) {
		this.sock.end(`HTTP/1.1 ${status} ${REASONS[status]}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
		this.sock.removeListener("data", this.onData);
		this.buf = null;
	}

	feed(chunk) {
		let buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
		let pos = 0;
		for (;;) {
			const end = buf.indexOf(CRLF2, pos);
			if (end < 0) {
				if (buf.length - pos > MAX_HEAD) return this.fail(400);
				break;
			}
			const lines = buf.toString("latin1", pos, end).split("\r\n");
			const first = lines[0].split(" ");
			if (first.length !== 3 || !first[2].startsWith("HTTP/1.")) return this.fail(400);
			const headers = {};
			for (let i = 1; i < lines.length; i++) {
				const line = lines[i];
				const c = line.indexOf(":");
				if (c <= 0) return this.fail(400);
				const name = line.slice(0, c).trim().toLowerCase();
				const value = line.slice(c + 1).trim();
				headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
			}
			const req = { method: first[0], url: first[1], headers };
			let bodyStart = end + 4;
			if (headers.upgrade !== undefined) {
				// WebSocket: this socket is not HTTP any more
				this.sock.removeListener("data", this.onData);
				this.buf = null;
				onUpgrade(req, this.sock, buf.subarray(bodyStart));
				return;
			}
			let body;
			const te = headers["transfer-encoding"];
			if (te !== undefined && te.toLowerCase().includes("chunked")) {
				const parts = [];
				let p = bodyStart;
				let done = false;
				for (;;) {
					const eol = buf.indexOf("\r\n", p, "latin1");
					if (eol < 0) break;
					const size = Number.parseInt(buf.toString("latin1", p, eol).split(";")[0], 16);
					if (!Number.isFinite(size) || size < 0) return this.fail(400);
					if (size === 0) {
						const t = buf.indexOf(CRLF2, eol); // trailers end with an empty line
						if (buf[eol + 2] === 13 && buf[eol + 3] === 10) {
							p = eol + 4;
							done = true;
						} else if (t >= 0) {
							p = t + 4;
							done = true;
						}
						break;
					}
					if (buf.length < eol + 2 + size + 2) break;
					parts.push(buf.subarray(eol + 2, eol + 2 + size));
					p = eol + 2 + size + 2;
				}
				if (!done) break; // wait for the rest (re-parsed from the head: bodies are small)
				body = parts.length === 1 ? parts[0] : Buffer.concat(parts);
				bodyStart = p;
			} else {
				const n = headers["content-length"] === undefined ? 0 : Number(headers["content-length"]);
				if (!Number.isSafeInteger(n) || n < 0) return this.fail(400);
				if (buf.length < bodyStart + n) break;
				body = buf.subarray(bodyStart, bodyStart + n);
				bodyStart += n;
			}
			pos = bodyStart;
			const conn = (headers.connection ?? "").toLowerCase();
			this.closeAfter = conn.includes("close") || first[2] === "HTTP/1.0";
			onRequest(req, this, body);
			if (this.closeAfter) {
				this.sock.removeListener("data", this.onData);
				this.buf = null;
				return;
			}
		}
		this.buf = pos < buf.length ? Buffer.from(buf.subarray(pos)) : null;
	}
}

const server = net.createServer({ noDelay: true }, (sock) => new HttpConn(sock));
server.listen(PORT, HOST, () => {
	const { port } = server.address();
	const host = HOST.includes(":") ? `[${HOST}]` : HOST;
	process.stdout.write(`RESPONDER ${JSON.stringify({ endpoint: `http://${host}:${port}`, pid: process.pid })}\n`);
});

for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(sig, () => process.exit(0));
if (argv.includes("--exit-on-stdin-eof")) {
	process.stdin.on("data", () => {});
	process.stdin.on("end", () => process.exit(0));
	process.stdin.on("error", () => process.exit(0));
}
