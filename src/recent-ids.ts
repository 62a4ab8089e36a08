/**
 * Killmail ids seen within a time window, to skip a killmail that arrives
 * twice (two upstream feeds, a producer retry). Entries expire in arrival
 * order; `maxEntries` bounds memory however fast ids arrive.
 */
export class RecentIds {
  /** Insertion-ordered, so the oldest entry is always first. */
  private readonly seenAt = new Map<number, number>();

  constructor(
    readonly windowMs: number,
    readonly maxEntries = 200_000,
  ) {}

  get size(): number {
    return this.seenAt.size;
  }

  /** Records `id` at `now`; returns false when it was already seen within the window. */
  add(id: number, now: number): boolean {
    if (this.windowMs === 0) return true;

    this.expire(now);
    if (this.seenAt.has(id)) return false;

    this.seenAt.set(id, now);
    if (this.seenAt.size > this.maxEntries) {
      const oldest = this.seenAt.keys().next().value as number;
      this.seenAt.delete(oldest);
    }
    return true;
  }

  private expire(now: number): void {
    for (const [id, seenAt] of this.seenAt) {
      if (now - seenAt < this.windowMs) return;
      this.seenAt.delete(id);
    }
  }
}
