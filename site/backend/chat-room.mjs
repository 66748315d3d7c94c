// Chat room actor definition shared by the demo site and the test backend
// (tests/backend/registry.mjs). Deliberately does NOT import rivetkit: the
// caller passes in rivetkit's `UserError` and wraps the result with `actor()`:
//
//   import { actor, UserError } from "rivetkit";
//   import { createChatRoomDefinition } from "./chat-room.mjs";
//   const chatRoom = actor(createChatRoomDefinition({ UserError }));
//
// Actions:
//   sendMessage(sender, text) -> {sender, text, ts}; appends to the history
//       (last MAX_HISTORY kept) and broadcasts event "newMessage" (message).
//       Invalid input -> UserError code "invalid_message".
//   getHistory() -> array of messages, oldest first.

export const MAX_HISTORY = 100;
export const MAX_TEXT_LENGTH = 2000;

/** Returns an error string for invalid input, or null when valid. */
export function validateMessage(sender, text) {
	if (typeof sender !== "string" || sender.length === 0) {
		return "sender must be a non-empty string";
	}
	if (typeof text !== "string" || text.length === 0) {
		return "text must be a non-empty string";
	}
	if (text.length > MAX_TEXT_LENGTH) {
		return `text must be at most ${MAX_TEXT_LENGTH} characters`;
	}
	return null;
}

export function createChatRoomDefinition({ UserError } = {}) {
	const fail = (message) => {
		if (UserError) throw new UserError(message, { code: "invalid_message" });
		throw new Error(message);
	};
	return {
		state: { messages: [] },
		actions: {
			sendMessage: (c, sender, text) => {
				const problem = validateMessage(sender, text);
				if (problem) fail(problem);
				const message = { sender, text, ts: Date.now() };
				const messages = [...c.state.messages, message];
				c.state.messages = messages.slice(-MAX_HISTORY);
				c.broadcast("newMessage", message);
				return message;
			},
			getHistory: (c) => c.state.messages,
		},
	};
}
