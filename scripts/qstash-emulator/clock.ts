// The emulator's time: the machine's by default, or a clock a test holds and moves by hand, so that
// delays, back-off and crons are proved without waiting and without depending on the machine's speed.

export type TimerHandle = { readonly id: number };

export type Clock = {
  now(): number;
  setTimeout(run: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
};

/**
 * The longest single timer: Node's setTimeout takes a 32-bit signed delay and turns anything longer into
 * 1 ms (TimeoutOverflowWarning), so a longer wait is taken in chunks of at most this (about 24.8 days).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export function systemClock(): Clock {
  const timers = new Map<number, NodeJS.Timeout>();
  let next = 0;
  return {
    now: () => Date.now(),
    setTimeout(run, ms) {
      if (ms > MAX_TIMER_MS) throw new RangeError(`timer of ${ms} ms is longer than ${MAX_TIMER_MS} ms`);
      const id = ++next;
      timers.set(
        id,
        setTimeout(() => {
          timers.delete(id);
          run();
        }, ms),
      );
      return { id };
    },
    clearTimeout(handle) {
      if (!handle) return;
      clearTimeout(timers.get(handle.id));
      timers.delete(handle.id);
    },
  };
}

/** A clock that stands still until told to move; timers fire in time order as it passes them. */
export class HeldClock implements Clock {
  private timers: { id: number; at: number; run: () => void }[] = [];
  private next = 0;
  /** Every delay a timer was armed with, so a test can see that nothing spins or overflows. */
  readonly armed: number[] = [];

  constructor(private current = Date.UTC(2026, 0, 5)) {}

  now() {
    return this.current;
  }

  setTimeout(run: () => void, ms: number): TimerHandle {
    // Refused as Node would misbehave: a test on this clock proves the emulator never asks for more.
    if (ms > MAX_TIMER_MS) throw new RangeError(`timer of ${ms} ms is longer than ${MAX_TIMER_MS} ms`);
    this.armed.push(ms);
    const id = ++this.next;
    this.timers.push({ id, at: this.current + Math.max(0, ms), run });
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined) {
    if (handle) this.timers = this.timers.filter((t) => t.id !== handle.id);
  }

  /** Timers not yet fired. */
  get pending() {
    return this.timers.length;
  }

  /** Milliseconds until the next timer fires (undefined when none is armed). */
  nextDue(): number | undefined {
    if (!this.timers.length) return undefined;
    return Math.min(...this.timers.map((t) => t.at)) - this.current;
  }

  /** Moves the clock forward, firing each timer due on the way at its own time (ties in arming order). */
  advance(ms: number) {
    const until = this.current + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.current = Math.max(this.current, due.at);
      due.run();
    }
    this.current = until;
  }
}
