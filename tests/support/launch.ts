// Starts a command as a terminal would: in a process group of its own, so that a signal reaches every
// process it started (npm → sh → tsx → node) and `stopLaunched` leaves no orphan behind when a test
// fails or times out (a SIGKILL of npm or tsx alone once left an `npm start` spinning for an hour).
import { type ChildProcess, spawn } from "node:child_process";

export type Launched = {
  child: ChildProcess;
  /** stdout and stderr as they came, so far. */
  readonly output: string;
  /** The exit code once it has exited (null when a signal ended it). */
  readonly code: number | null | undefined;
  exited: Promise<number | null>;
  /** Sends `signal` to the whole group, as Ctrl-C (SIGINT) does. */
  signal(signal?: NodeJS.Signals): void;
};

const running = new Set<Launched>();

/** `env` is the whole environment beside PATH and HOME: a test says everything a command may see. */
export function launch(command: string, args: string[], env: Record<string, string | undefined> = {}): Launched {
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  let code: number | null | undefined;
  child.stdout!.on("data", (data) => (output += data));
  child.stderr!.on("data", (data) => (output += data));
  const exited = new Promise<number | null>((resolve) =>
    // "close", not "exit": every byte it printed has been read by then.
    child.once("close", (exitCode) => {
      running.delete(launched);
      resolve((code = exitCode));
    }),
  );
  const launched: Launched = {
    child,
    get output() {
      return output;
    },
    get code() {
      return code;
    },
    exited,
    signal(signal = "SIGTERM") {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    },
  };
  running.add(launched);
  return launched;
}

/** One of the project's scripts, as `npm run` runs it but in one process (no npm or tsx wrapper between). */
export const launchScript = (script: string, args: string[] = [], env: Record<string, string | undefined> = {}) =>
  launch(process.execPath, ["--import", "tsx", script, ...args], env);

/** Runs a script to its end: its exit code and everything it printed. */
export async function runScript(script: string, args: string[] = [], env: Record<string, string | undefined> = {}) {
  const launched = launchScript(script, args, env);
  const code = await launched.exited;
  return { code, output: launched.output };
}

/** For afterAll: kills every group still running, then waits for them to go. */
export async function stopLaunched() {
  const left = [...running];
  for (const launched of left) launched.signal("SIGKILL");
  await Promise.all(left.map((launched) => launched.exited));
}
