/** An item the scheduler can track without a side map. */
export interface Schedulable {
  /** Due time in ms of the pending flush, or 0 when none is scheduled. Owned by FlushScheduler. */
  flushDueAt: number;
  /** Wheel slot of the pending flush, or -1 when none is scheduled. Owned by FlushScheduler. */
  flushSlot: number;
}

/**
 * A timing wheel of flush deadlines. Scheduling and cancelling cost O(1);
 * one timer ticks every `tickMs` while anything is scheduled, and stops when
 * the wheel is empty, so idle connections cost nothing. Deadlines round up
 * to the next tick.
 */
export class FlushScheduler<T extends Schedulable> {
  private readonly slots: Array<Set<T>>;
  private scheduled = 0;
  private processedTick: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly onDue: (item: T) => void,
    private readonly tickMs = 5,
    /** Slots in the wheel; deadlines beyond tickMs × slots are re-checked when their slot comes round. */
    slotCount = 512,
    private readonly now: () => number = Date.now,
  ) {
    this.slots = Array.from({ length: slotCount }, () => new Set<T>());
    this.processedTick = Math.floor(this.now() / tickMs);
  }

  get size(): number {
    return this.scheduled;
  }

  /** Schedules `item` for `dueAt` (ms), replacing any earlier schedule. */
  schedule(item: T, dueAt: number): void {
    if (this.stopped) return;

    this.cancel(item);
    this.ensureTimer();
    const tick = Math.max(Math.ceil(dueAt / this.tickMs), this.processedTick + 1);
    const slotIndex = tick % this.slots.length;
    (this.slots[slotIndex] as Set<T>).add(item);
    item.flushSlot = slotIndex;
    item.flushDueAt = dueAt;
    this.scheduled += 1;
  }

  /** Schedules `item` unless it already has a deadline at or before `dueAt`. */
  scheduleIfLater(item: T, dueAt: number): void {
    if (item.flushDueAt !== 0 && item.flushDueAt <= dueAt) return;
    this.schedule(item, dueAt);
  }

  cancel(item: T): void {
    if (item.flushSlot < 0) return;

    (this.slots[item.flushSlot] as Set<T>).delete(item);
    item.flushSlot = -1;
    item.flushDueAt = 0;
    this.scheduled -= 1;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const slot of this.slots) {
      for (const item of slot) {
        item.flushSlot = -1;
        item.flushDueAt = 0;
      }
      slot.clear();
    }
    this.scheduled = 0;
  }

  /** Runs every deadline that has passed; the timer calls it, tests may too. */
  runDue(): void {
    const now = this.now();
    const nowTick = Math.floor(now / this.tickMs);
    // A late timer catches up tick by tick, but never walks the wheel more than once.
    const firstTick = Math.max(this.processedTick + 1, nowTick - this.slots.length + 1);

    for (let tick = firstTick; tick <= nowTick; tick += 1) {
      const slot = this.slots[tick % this.slots.length] as Set<T>;
      if (slot.size === 0) continue;

      // Collect first: onDue may schedule items again, possibly into this slot.
      const due: T[] = [];
      for (const item of slot) if (item.flushDueAt <= now) due.push(item);
      for (const item of due) {
        slot.delete(item);
        item.flushSlot = -1;
        item.flushDueAt = 0;
        this.scheduled -= 1;
        this.onDue(item);
      }
    }
    this.processedTick = Math.max(this.processedTick, nowTick);

    if (this.scheduled === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private ensureTimer(): void {
    if (this.timer) return;
    // The wheel was idle: restart it at the present tick.
    this.processedTick = Math.floor(this.now() / this.tickMs) - 1;
    this.timer = setInterval(() => this.runDue(), this.tickMs);
  }
}
