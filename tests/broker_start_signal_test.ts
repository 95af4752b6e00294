/**
 * A broker that is told to stop while it is still opening its database (held up by another
 * program's SQLite lock, here Python's) stops cleanly: exit 0 and its socket removed. Ignored
 * where python3 is missing.
 *
 * @module
 */
import assert from "node:assert/strict";
import { brokerCommand, createTestEnv, waitFor, within } from "./_helpers.ts";

const HOLD_LOCK = `
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=1)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("ROLLBACK")
`;

const python = await new Deno.Command("python3", { args: ["-c", "import sqlite3"] }).output()
  .then((output) => output.success, () => false);

Deno.test({
  name: `SIGTERM while the broker opens its database stops it cleanly${
    python ? "" : " [ignored: python3 with sqlite3 is not installed]"
  }`,
  ignore: !python || Deno.build.os === "windows",
  async fn() {
    await using testEnv = await createTestEnv();
    const socket = `${testEnv.dbPath}.d/broker-${testEnv.port}.sock`;
    const locker = new Deno.Command("python3", {
      args: ["-c", HOLD_LOCK, testEnv.dbPath, "20"],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    let broker: Deno.ChildProcess | undefined;
    try {
      const reader = locker.stdout.pipeThrough(new TextDecoderStream()).getReader();
      assert.match((await within(reader.read(), "the lock", 10_000)).value ?? "", /locked/);
      await reader.cancel();
      broker = brokerCommand(testEnv).spawn();
      // Serving (port and socket) while it waits for the database.
      await waitFor(() => Deno.lstat(socket).then(() => true, () => false), 15_000, "the socket");
      broker.kill("SIGTERM");
      // It exits once the database open gives up (about 5 s here), cleanly.
      const status = await within(broker.status, "the broker's exit", 20_000);
      assert.equal(status.code, 0, `exit code ${status.code}, signal ${status.signal}`);
      assert.equal(await Deno.lstat(socket).then(() => true, () => false), false, "socket left");
    } finally {
      try {
        broker?.kill("SIGKILL");
      } catch { /* exited */ }
      await broker?.status;
      try {
        locker.kill("SIGKILL");
      } catch { /* exited */ }
      await within(locker.status, "the lock holder's exit", 10_000);
    }
  },
});
