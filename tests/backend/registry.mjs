// Fixture actors for rivetkit_web's real-backend tests. The actor names,
// actions and events below are a contract with the Python tests: see README.md.
import { actor, setup, UserError } from "rivetkit";
import { createChatRoomDefinition } from "../../site/backend/chat-room.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const counter = actor({
	state: { count: 0 },
	actions: {
		increment: (c, amount = 1) => {
			c.state.count += amount;
			c.broadcast("newCount", c.state.count);
			return c.state.count;
		},
		getCount: (c) => c.state.count,
		setCount: (c, n) => {
			c.state.count = n;
			c.broadcast("newCount", c.state.count);
			return c.state.count;
		},
		getKey: (c) => c.key,
		getActorId: (c) => c.actorId,
	},
});

export const chatRoom = actor(createChatRoomDefinition({ UserError }));

export const inputActor = actor({
	createState: (_c, input) => ({ input: input ?? null }),
	actions: {
		getInput: (c) => c.state.input,
	},
});

export const paramsActor = actor({
	onBeforeConnect: (_c, params) => {
		if (params?.reject) {
			throw new UserError("rejected by onBeforeConnect", {
				code: "forbidden",
				metadata: { why: "reject" },
			});
		}
	},
	createConnState: (_c, params) => ({
		name: params?.name ?? null,
		params: params ?? null,
	}),
	actions: {
		whoami: (c) => c.conn.state.name,
		getParams: (c) => c.conn.state.params,
		greet: (c) => {
			c.broadcast("hello", c.conn.state.name);
			return c.conn.state.name;
		},
	},
});

export const errorActor = actor({
	actions: {
		throwUserError: () => {
			throw new UserError("nope", {
				code: "my_code",
				metadata: { a: 1, b: [2, 3] },
			});
		},
		throwSimpleError: () => {
			throw new UserError("simple");
		},
		throwInternal: () => {
			throw new Error("secret internal details");
		},
		ok: () => "ok",
	},
});

export const eventActor = actor({
	actions: {
		emitMulti: (c, a, b, d) => {
			c.broadcast("multi", a, b, d);
			return null;
		},
		emit: (c, name, ...args) => {
			c.broadcast(name, ...args);
			return null;
		},
		echo: (_c, x) => x,
		echoMany: (_c, ...args) => args,
	},
});

export const slowActor = actor({
	state: { completed: 0 },
	actions: {
		wait: async (c, ms) => {
			await sleep(ms);
			c.state.completed += 1;
			return ms;
		},
		count: (c) => c.state.completed,
	},
});

export const lifecycleActor = actor({
	state: { wakes: 0 },
	onWake: (c) => {
		c.state.wakes += 1;
	},
	actions: {
		disconnectMe: async (c, reason) => {
			await c.conn.disconnect(reason);
			return null;
		},
		goToSleep: (c) => {
			c.sleep();
			return null;
		},
		destroyMe: (c) => {
			c.destroy();
			return null;
		},
		getWakes: (c) => c.state.wakes,
		ping: () => "pong",
		broadcastTick: (c, n) => {
			c.broadcast("tick", n);
			return n;
		},
	},
});

function rawRequest(request) {
	const url = new URL(request.url);
	const path = url.pathname;
	const method = request.method.toUpperCase();
	if (method === "GET" && path === "/hello") {
		return new Response("hello", {
			headers: { "content-type": "text/plain" },
		});
	}
	if (method === "POST" && path === "/echo") {
		return request.arrayBuffer().then(
			(body) =>
				new Response(body, {
					headers: {
						"content-type":
							request.headers.get("content-type") ??
							"application/octet-stream",
					},
				}),
		);
	}
	if (method === "GET" && path === "/json") {
		return Response.json({
			ok: true,
			query: Object.fromEntries(url.searchParams),
		});
	}
	if (method === "GET" && path === "/headers") {
		return Response.json(Object.fromEntries(request.headers));
	}
	const status = /^\/status\/(\d{3})$/.exec(path);
	if (method === "GET" && status) {
		return new Response(null, { status: Number(status[1]) });
	}
	return new Response("not found", {
		status: 404,
		headers: { "content-type": "text/plain" },
	});
}

function toBytes(data) {
	if (data instanceof ArrayBuffer) return new Uint8Array(data);
	if (ArrayBuffer.isView(data)) {
		return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
	}
	return null;
}

export const rawActor = actor({
	onRequest: (_c, request) => rawRequest(request),
	onWebSocket: (_c, websocket) => {
		websocket.binaryType = "arraybuffer";
		websocket.addEventListener("message", async (event) => {
			let data = event.data;
			if (typeof data === "string") {
				if (data === "close") {
					websocket.close(4000, "bye");
				} else {
					websocket.send(data === "ping" ? "pong" : data);
				}
				return;
			}
			if (typeof Blob !== "undefined" && data instanceof Blob) {
				data = await data.arrayBuffer();
			}
			const bytes = toBytes(data);
			if (bytes) websocket.send(Uint8Array.from(bytes).reverse());
		});
		websocket.send("welcome");
	},
});

export const registry = setup({
	use: {
		counter,
		chatRoom,
		inputActor,
		paramsActor,
		errorActor,
		eventActor,
		slowActor,
		lifecycleActor,
		rawActor,
	},
});
