import type { FeedEvent } from './feed-event.js';

/**
 * The newest events in memory, in id order, bounded by count. Serves resume
 * and the first pages of history without touching the stream. Lookups are
 * binary searches over ids, which only ever increase.
 */
export class EventHistory {
  private readonly events: FeedEvent[] = [];
  /** Index of the oldest live entry; entries before it are dropped in bulk to keep appends O(1) amortised. */
  private start = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.events.length - this.start;
  }

  /** Id of the oldest event held, or undefined when empty. */
  get oldestId(): number | undefined {
    return this.events[this.start]?.id;
  }

  get newestId(): number | undefined {
    return this.events.length > this.start ? this.events[this.events.length - 1]?.id : undefined;
  }

  append(event: FeedEvent): void {
    this.events.push(event);
    if (this.size <= this.capacity) return;

    this.start += 1;
    if (this.start >= this.capacity) {
      this.events.splice(0, this.start);
      this.start = 0;
    }
  }

  /** Events with afterId < id ≤ upToId that satisfy `matches`, oldest first. */
  range(afterId: number, upToId: number, matches: (event: FeedEvent) => boolean): FeedEvent[] {
    const result: FeedEvent[] = [];
    for (let i = this.firstIndexAbove(afterId); i < this.events.length; i += 1) {
      const event = this.events[i] as FeedEvent;
      if (event.id > upToId) break;
      if (matches(event)) result.push(event);
    }
    return result;
  }

  /** Up to `limit` events with id < beforeId that satisfy `matches`, newest first. */
  before(beforeId: number, limit: number, matches: (event: FeedEvent) => boolean): FeedEvent[] {
    const result: FeedEvent[] = [];
    for (let i = this.firstIndexAbove(beforeId - 1) - 1; i >= this.start && result.length < limit; i -= 1) {
      const event = this.events[i] as FeedEvent;
      if (matches(event)) result.push(event);
    }
    return result;
  }

  /** Index of the first event with id > `id`. */
  private firstIndexAbove(id: number): number {
    let low = this.start;
    let high = this.events.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.events[mid] as FeedEvent).id <= id) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
