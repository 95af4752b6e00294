/**
 * Refusal: the one error the broker's own code throws when it turns a request down. It carries
 * the protocol's error code; `http.ts` alone maps codes to statuses.
 *
 * @module
 */
import type { ErrorCode } from "./protocol.ts";

/** A request the broker refuses, with the code front ends branch on. */
export class Refusal extends Error {
  override name = "Refusal";
  /** Why, as the stable protocol code. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
