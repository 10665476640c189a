// A run's time limit, measured on a clock that tests replace. A function must answer before its
// platform stops it (README "Deploy"), so every wait inside a run is cut to the time it has left.

export type Clock = { now(): number; sleep(ms: number): Promise<void> };

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** The time left until a deadline, on a clock. */
export class Budget {
  constructor(
    readonly clock: Clock,
    readonly deadline: number,
  ) {}

  static start(ms: number, clock: Clock = systemClock): Budget {
    return new Budget(clock, clock.now() + ms);
  }

  left(): number {
    return Math.max(0, this.deadline - this.clock.now());
  }

  /** The same budget less `ms` kept back for what must follow. */
  less(ms: number): Budget {
    return new Budget(this.clock, this.deadline - ms);
  }
}

/** The most a run keeps back from its work, for storing, settling and answering after it. */
export const RESERVE_MS = 5000;

/** A run of `ms`: `work` is what its batches and embedding requests may use (a fifth, at most 5 s, is kept back). */
export function startRun(ms: number, clock: Clock = systemClock) {
  const total = Budget.start(ms, clock);
  const reserveMs = Math.min(RESERVE_MS, ms / 5);
  return { total, work: total.less(reserveMs), workMs: ms - reserveMs };
}
