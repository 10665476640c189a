// Watches the COPY … FROM STDIN statements node-postgres sends while `work` runs (pg-copy-streams:
// each is a writable stream): their text, attempts that failed included, and the bytes written to them.
import { Writable } from "node:stream";
import pg from "pg";

export async function watchCopies<T>(work: () => Promise<T>) {
  const original = pg.Client.prototype.query;
  const copies = { statements: [] as string[], bytes: 0 };
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const result = (original as (...a: unknown[]) => unknown).apply(this, args);
    const text = (args[0] as { text?: unknown } | undefined)?.text;
    if (result instanceof Writable && typeof text === "string" && /^COPY /.test(text)) {
      copies.statements.push(text);
      const write = result.write.bind(result) as (chunk: Buffer, ...rest: unknown[]) => boolean;
      result.write = ((chunk: Buffer, ...rest: unknown[]) => {
        copies.bytes += chunk.length;
        return write(chunk, ...rest);
      }) as typeof result.write;
    }
    return result;
  } as typeof original;
  try {
    return { result: await work(), ...copies };
  } finally {
    pg.Client.prototype.query = original;
  }
}
