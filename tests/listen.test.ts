// A taken port is swapped for the next free one, and the swap is reported.
import { createServer } from "node:http";
import { afterEach, describe, expect, it, vi } from "vitest";
import { listenOnFreePort } from "../scripts/lib/listen";

afterEach(() => vi.restoreAllMocks());

describe("listenOnFreePort", () => {
  it("takes the next port when the asked one is taken, and says so", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const holder = createServer();
    const taken = await listenOnFreePort(holder, 0);
    const server = createServer();
    try {
      const port = await listenOnFreePort(server, taken);
      expect(port).not.toBe(taken);
      expect(warn).toHaveBeenCalledWith(`[local] port ${taken} is taken; listening on ${port} instead`);
    } finally {
      server.close();
      holder.close();
    }
  });

  it("says nothing when the asked port is free", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const server = createServer();
    await listenOnFreePort(server, 0);
    server.close();
    expect(warn).not.toHaveBeenCalled();
  });
});
