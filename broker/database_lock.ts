/**
 * One broker per database, whatever its port: a broker holds an exclusive lock on
 * `<state dir>/broker.lock` for as long as it runs (the system drops it when the process ends,
 * a SIGKILL too). Two brokers on one database would each keep their own copy of the peers and
 * their own pushes, and messages sent through one would wait for the other's readers.
 *
 * @module
 */
import { joinPath } from "./config.ts";

/** How long a starting broker waits for one that is still stopping to let go. */
const LOCK_WAIT_MS = 5_000;
const LOCK_RETRY_MS = 100;

/** Takes the lock of the database whose state directory is `stateDir`; close it to let go. */
export async function lockDatabase(
  stateDir: string,
  dbPath: string,
  waitMs = LOCK_WAIT_MS,
): Promise<Deno.FsFile> {
  const file = await Deno.open(joinPath(stateDir, "broker.lock"), {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  const deadline = Date.now() + waitMs;
  while (!await file.tryLock(true)) {
    if (Date.now() >= deadline) {
      file.close();
      throw new Error(
        `Another broker serves the database ${dbPath} (on another port): stop it with "claude-peers kill-broker" and the CLAUDE_PEERS_PORT it runs on, or give this one its own CLAUDE_PEERS_DB`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
  }
  return file;
}
