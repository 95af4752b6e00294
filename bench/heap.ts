/**
 * The V8 heap of a process started with `--inspect=127.0.0.1:0`, read over the inspector
 * protocol: a full garbage collection first, so what is left is what the process keeps.
 *
 * @module
 */

/** The inspector's WebSocket URL, from what `deno run --inspect` wrote to stderr. */
export function inspectorUrl(stderr: string): string | undefined {
  return stderr.match(/Debugger listening on (ws:\/\/\S+)/)?.[1];
}

/** Collects garbage in the process behind `url`, then returns its used heap in MB. */
export async function liveHeapMb(url: string, timeoutMs = 10_000): Promise<number> {
  const socket = new WebSocket(url);
  const replies = new Map<number, (result: Record<string, unknown>) => void>();
  socket.onmessage = (event) => {
    const reply = JSON.parse(String(event.data));
    replies.get(reply.id)?.(reply.result ?? {});
  };
  let nextId = 1;
  const call = (method: string) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const id = nextId++;
      replies.set(id, resolve);
      socket.send(JSON.stringify({ id, method }));
    });
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`cannot reach the inspector at ${url}`));
    });
    const usage = await Promise.race([
      (async () => {
        await call("HeapProfiler.collectGarbage");
        return await call("Runtime.getHeapUsage");
      })(),
      new Promise<never>((_, reject) =>
        timeout.addEventListener("abort", () => reject(new Error("the inspector did not answer")))
      ),
    ]);
    return Number(usage.usedSize) / 2 ** 20;
  } finally {
    socket.close();
  }
}
