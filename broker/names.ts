/**
 * Peer names: the default name a session gets from its repository or directory (and branch),
 * and the rule that a name is unique among live peers. Pure functions; the registry
 * (`peers.ts`) owns which peer holds which name and never lets two live peers share one.
 *
 * A default is the repository's name (or the directory's basename outside git), normalised to
 * a valid name: `api`. A second live session of the same repository gets `api-<branch>` when
 * that is free, then `api-2`, `api-3`…. A base shaped like a peer id (`frontend`: 8 letters)
 * is never used bare: it starts at `frontend-<branch>`, then `frontend-1`.
 *
 * @module
 */
import { PeerName } from "./protocol.ts";

const ID_SHAPE = /^[a-z0-9]{8}$/;
const MAX_NAME = 32;

/** `text` as the lowercase a-z 0-9 . _ - a name is made of, or "" when nothing is left. */
export function toNameText(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[^a-z0-9]+/, "")
    .replace(/[-._]+$/, "");
}

/** Whether `name` is a valid name as given (already normalised). */
export function isValidName(name: string): boolean {
  const parsed = PeerName.safeParse(name);
  return parsed.success && parsed.data === name;
}

/** The repository's name from its common git dir (`/src/api/.git` → `api`), else the cwd's. */
export function defaultBase(
  fields: { cwd: string; git_root: string | null; repo: string | null },
): string {
  let source = fields.cwd;
  if (fields.git_root) {
    const common = basename(fields.git_root);
    source = common === ".git" ? basename(dirname(fields.git_root)) : common.replace(/\.git$/, "");
  } else if (fields.repo) {
    source = basename(fields.repo);
  } else {
    source = basename(fields.cwd);
  }
  return toNameText(source).slice(0, MAX_NAME - 5).replace(/[-._]+$/, "") || "peer";
}

/** The default names to try in order, for a base and branch; endless. */
export function* nameCandidates(base: string, branch: string | null): Generator<string> {
  const idShaped = ID_SHAPE.test(base);
  if (!idShaped) yield base;
  const branchText = branch && branch !== "HEAD" ? toNameText(branch) : "";
  if (branchText) {
    const withBranch = `${base}-${branchText}`.slice(0, MAX_NAME).replace(/[-._]+$/, "");
    if (isValidName(withBranch)) yield withBranch;
  }
  for (let n = idShaped ? 1 : 2;; n++) yield `${base}-${n}`;
}

/** The first candidate for `base` and `branch` that `taken` does not hold. */
export function freeDefaultName(
  base: string,
  branch: string | null,
  taken: (name: string) => boolean,
): string {
  for (const candidate of nameCandidates(base, branch)) {
    if (!taken(candidate)) return candidate;
  }
  throw new Error("unreachable: the candidates never end");
}

/** The last segment of a path, whatever its separators (no `node:path`: the broker loads none). */
function basename(path: string): string {
  return path.replace(/[\\/]+$/, "").split(/[\\/]/).at(-1) ?? "";
}

/** A path without its last segment. */
function dirname(path: string): string {
  const trimmed = path.replace(/[\\/]+$/, "");
  const cut = Math.max(trimmed.lastIndexOf("/"), trimmed.lastIndexOf("\\"));
  return cut <= 0 ? trimmed.slice(0, cut + 1) : trimmed.slice(0, cut);
}
