// One owner per embedded database folder. PGlite opened twice on one folder loses the writes of one
// and can corrupt the folder, so the process that opens it records itself (and, for `npm start`, the
// PostgreSQL port it serves the folder on) in a file beside it; every other process goes through that
// port, or is told in one sentence what to do.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export type Owner = { pid: number; command: string; pgUrl?: string };

export class DataDirInUseError extends Error {
  override name = "DataDirInUseError";
}

const ownerFile = (dataDir: string) => `${dataDir.replace(/\/+$/, "")}.owner.json`;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
};

const readRecord = (path: string): Owner | undefined => {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Owner;
  } catch {
    return undefined;
  }
};

/** The live owner of the folder other than this process, if any; a dead process's record is removed. */
export function currentOwner(dataDir: string): Owner | undefined {
  const owner = readRecord(ownerFile(dataDir));
  if (!owner || owner.pid === process.pid) return undefined;
  if (alive(owner.pid)) return owner;
  rmSync(ownerFile(dataDir), { force: true });
  return undefined;
}

/** Records this process as the folder's owner; throws DataDirInUseError when another one lives. */
export function claimDataDir(dataDir: string, command: string): { serveAt(pgUrl: string): void; release(): void } {
  const path = ownerFile(dataDir);
  mkdirSync(dirname(path), { recursive: true }); // a fresh clone has no .data yet
  const write = (owner: Owner, flag: "wx" | "w") => {
    const fd = openSync(path, flag);
    try {
      writeSync(fd, JSON.stringify(owner));
    } finally {
      closeSync(fd);
    }
  };
  for (;;) {
    const holder = currentOwner(dataDir);
    if (holder) throw new DataDirInUseError(inUse(dataDir, holder));
    try {
      write({ pid: process.pid, command }, "wx"); // atomic: of two processes starting at once, one wins
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  const release = () => {
    if (readRecord(path)?.pid === process.pid) rmSync(path, { force: true });
  };
  process.once("exit", release);
  return { serveAt: (pgUrl) => write({ pid: process.pid, command, pgUrl }, "w"), release };
}

export function inUse(dataDir: string, owner: Owner): string {
  return (
    `The embedded database ${dataDir} is in use by \`${owner.command}\` (pid ${owner.pid}); ` +
    (owner.command === "npm start"
      ? "stop it first, or give this one its own folder with PGLITE_DATA_DIR=…"
      : "wait for it to finish, or stop it.")
  );
}
