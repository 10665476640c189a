// A clock that moves only when told: budgets and retry waits measured on it take no real time.
import type { Clock } from "../functions/lib/budget";

export class FakeClock implements Clock {
  constructor(public time = 1_000_000) {}

  now() {
    return this.time;
  }

  async sleep(ms: number) {
    this.time += ms;
  }
}
