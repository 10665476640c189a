/**
 * A wait's bound is there to fail a test that would hang, never to time the code: speed is measured
 * in the benchmarks. So no wait gives up sooner than this, however busy the machine.
 */
const LEAST_WAIT_MS = 30_000;

/** Polls `check` until it returns a truthy value or `timeoutMs` (at least LEAST_WAIT_MS) passes. */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  timeoutMs = 5000,
  what = "condition",
): Promise<Exclude<T, false | 0 | "" | null | undefined>> {
  const bound = Math.max(timeoutMs, LEAST_WAIT_MS);
  const deadline = Date.now() + bound;
  for (;;) {
    const value = await check();
    if (value) return value as Exclude<T, false | 0 | "" | null | undefined>;
    if (Date.now() > deadline) throw new Error(`timed out after ${bound} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
