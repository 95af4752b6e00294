/**
 * HTTP plumbing of the broker: reading a JSON body within the size limit, writing JSON replies,
 * and the one mapping from errors to statuses and protocol codes. It knows no endpoint.
 *
 * @module
 */
import type { z } from "./_vendor/zod_v3.js";
import {
  describeZodError,
  type ErrorCode,
  type ErrorResponse,
  MAX_BODY_BYTES,
} from "./protocol.ts";
import { Refusal } from "./refusal.ts";
import { errorMessage, log } from "./log.ts";

/** The HTTP status of each protocol error code. */
const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  session_unknown: 401,
  forbidden: 403,
  peer_not_found: 404,
  peer_gone: 410,
  name_taken: 409,
  message_not_found: 404,
  rate_limited: 429,
  too_many_recipients: 413,
  no_such_endpoint: 404,
  method_not_allowed: 405,
  not_registered: 409,
  too_large: 413,
  unsupported_media_type: 415,
  queue_full: 429,
  too_many_peers: 429,
  storage_full: 507,
  internal: 500,
};

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Refuses a POST whose body is not declared JSON, whether or not its route reads the body. */
export function requireJsonBody(request: Request): void {
  if (request.method !== "POST") return;
  const type = request.headers.get("content-type") ?? "";
  if (type.split(";")[0]!.trim().toLowerCase() !== "application/json") {
    throw new Refusal(
      "unsupported_media_type",
      `Content-Type must be application/json, got "${type}"`,
    );
  }
}

/** Reads and validates a JSON body with `schema`; refuses other content types and sizes. */
export async function readJson<T extends z.ZodTypeAny>(
  request: Request,
  schema: T,
): Promise<z.output<T>> {
  requireJsonBody(request);
  const text = await readBodyText(request);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Refusal("bad_request", `Malformed JSON body: ${errorMessage(error)}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new Refusal("bad_request", `Invalid request: ${describeZodError(parsed.error)}`);
  }
  return parsed.data;
}

async function readBodyText(request: Request): Promise<string> {
  const tooLarge = () => new Refusal("too_large", `Request body exceeds ${MAX_BODY_BYTES} bytes`);
  const declared = request.headers.get("content-length");
  if (Number(declared ?? 0) > MAX_BODY_BYTES) throw tooLarge();
  if (!request.body) return "";
  // With a declared length within the limit, read the body in one native call; otherwise
  // stream it and stop at the limit.
  const bytes = declared !== null
    ? new Uint8Array(await request.arrayBuffer())
    : await readLimited(request.body, tooLarge);
  if (bytes.byteLength > MAX_BODY_BYTES) throw tooLarge();
  try {
    return utf8.decode(bytes);
  } catch {
    throw new Refusal("bad_request", "Request body is not valid UTF-8");
  }
}

async function readLimited(
  body: ReadableStream<Uint8Array>,
  tooLarge: () => Refusal,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** A JSON reply. */
export function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** A JSON reply that calls `written` once its body has been handed to the connection. */
export function jsonThen(value: unknown, written: () => void): Response {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(bytes);
      controller.close();
      written();
    },
  });
  return new Response(body, { headers: { "content-type": "application/json" } });
}

/** The error reply for `error`. */
export function errorResponse(error: unknown): Response {
  const { status, code, error: message } = describeError(error);
  const body: ErrorResponse = { error: message, code };
  return json(body, status);
}

/** The one mapping from errors to statuses and codes; an unexpected error is logged. */
export function describeError(error: unknown): { status: number; code: ErrorCode; error: string } {
  if (error instanceof Refusal) {
    return { status: STATUS[error.code], code: error.code, error: error.message };
  }
  if (isStorageFull(error)) {
    // Not the broker's fault and not worth a stack per request: the sender is told plainly.
    return {
      status: STATUS.storage_full,
      code: "storage_full",
      error:
        "The broker cannot write to its database: the disk is full (nothing was stored; what was accepted before is kept)",
    };
  }
  log(`internal error: ${error instanceof Error ? error.stack : String(error)}`);
  return { status: 500, code: "internal", error: `Internal broker error: ${errorMessage(error)}` };
}

/** Whether `error` says the disk is full: SQLite's SQLITE_FULL as Deno KV words it, or ENOSPC. */
export function isStorageFull(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /database or disk is full|no space left on device|os error 28\b/i.test(message);
}
