/**
 * A fixed-capacity FIFO that keeps the newest items: pushing into a full ring
 * evicts the oldest. Items are stored by reference, so a ring of shared
 * events costs one pointer per slot.
 */
export class RingBuffer<T> {
  private readonly slots: Array<T | undefined>;
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity <= 0) {
      throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    }
    this.slots = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Appends an item; returns true when the oldest item was evicted to make room. */
  push(item: T): boolean {
    const tail = (this.head + this.count) % this.capacity;
    this.slots[tail] = item;

    if (this.count < this.capacity) {
      this.count += 1;
      return false;
    }

    this.head = (this.head + 1) % this.capacity;
    return true;
  }

  /** Removes and returns every item, oldest first. */
  drain(): T[] {
    const items = new Array<T>(this.count);
    for (let i = 0; i < this.count; i += 1) {
      const index = (this.head + i) % this.capacity;
      items[i] = this.slots[index] as T;
      this.slots[index] = undefined;
    }
    this.head = 0;
    this.count = 0;
    return items;
  }

  clear(): void {
    this.slots.fill(undefined);
    this.head = 0;
    this.count = 0;
  }
}
