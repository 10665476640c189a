// A script ends on any error with one line that says what was wrong and its cause, not a stack trace.
// Scripts export their `main` and run it only when started themselves (`npm run x`), so that tests call
// the same `main` in process instead of spawning a process for it.
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { errorMessage } from "../../functions/lib/errors";

export async function runScript(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    console.error(errorMessage(error));
    process.exit(1);
  }
}

/** Whether the module at `moduleUrl` (its import.meta.url) is the script this process was started with. */
export function startedAsScript(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
