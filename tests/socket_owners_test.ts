/**
 * SocketOwners against the real /proc/net/tcp (Linux only): the owner of a live loopback
 * connection's client end, none for one that closed, and many lookups at once.
 *
 * @module
 */
import assert from "node:assert/strict";
import { SocketOwners } from "../broker/socket_owners.ts";
import { waitFor } from "./_helpers.ts";

const ON_LINUX = Deno.build.os === "linux";

Deno.test({
  name: `a loopback connection's client end is found with its user, and not once it closed${
    ON_LINUX ? "" : " [ignored: needs Linux]"
  }`,
  ignore: !ON_LINUX,
  async fn() {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const addr = listener.addr as Deno.NetAddr;
    const owners = await SocketOwners.start(addr, Deno.uid()!);
    assert.ok(owners, "the listener's own socket was found");
    try {
      assert.equal(await SocketOwners.start(addr, Deno.uid()! + 1), null, "a wrong uid fails");
      const client = await Deno.connect({ hostname: "127.0.0.1", port: addr.port });
      using accepted = await listener.accept();
      const from = accepted.remoteAddr as Deno.NetAddr;
      const to = accepted.localAddr as Deno.NetAddr;
      assert.deepEqual(await owners.ownerOf(from, to), { uid: Deno.uid() });
      // The broker's own end of it is not the client's.
      assert.equal(await owners.ownerOf({ ...from, port: from.port === 1 ? 2 : 1 }, to), null);
      const many = await Promise.all(Array.from({ length: 30 }, () => owners.ownerOf(from, to)));
      assert.ok(many.every((owner) => owner?.uid === Deno.uid()));
      client.close();
      await waitFor(async () => (await owners.ownerOf(from, to)) === null, 5_000, "the close");
    } finally {
      await owners.close();
    }
  },
});
