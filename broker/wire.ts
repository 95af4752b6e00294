/**
 * The protocol's constants, in a module that loads nothing: the headers, the claim lease and
 * the shape of a Claude Code session id. `protocol.ts` re-exports them next to its schemas; a
 * waiting hook imports only this, so it does not pay for zod.
 *
 * @module
 */

/** Header that carries a peer's session credential, next to the user secret. */
export const SESSION_HEADER = "x-claude-peers-session";

/**
 * Header that names the Claude Code session (`CLAUDE_CODE_SESSION_ID`) a hook runs in, next to
 * the user secret: hooks act for the peer that session's MCP server registered.
 */
export const CLAUDE_SESSION_HEADER = "x-claude-peers-claude-session";

/** How long a presenter holds claimed messages before they come back, in ms. */
export const CLAIM_MS = 30_000;

/** A Claude Code session id, as `CLAUDE_CODE_SESSION_ID` and the hooks' `session_id` carry it. */
export const CLAUDE_SESSION_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
