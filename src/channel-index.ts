/** A subscriber the index can stamp, so one event reaches it once. */
export interface IndexedSubscriber {
  /** Id of the last event this subscriber was matched for; written only by ChannelIndex.match. */
  lastMatchedEventId: number;
}

/**
 * Subscriptions indexed by channel key. Matching an event costs one map
 * lookup per channel of the event plus one visit per matching subscriber;
 * it never scans all connections.
 */
export class ChannelIndex<S extends IndexedSubscriber> {
  private readonly byChannel = new Map<string, Set<S>>();

  get channelCount(): number {
    return this.byChannel.size;
  }

  add(channel: string, subscriber: S): void {
    let subscribers = this.byChannel.get(channel);
    if (!subscribers) {
      subscribers = new Set();
      this.byChannel.set(channel, subscribers);
    }
    subscribers.add(subscriber);
  }

  remove(channel: string, subscriber: S): void {
    const subscribers = this.byChannel.get(channel);
    if (!subscribers) return;

    subscribers.delete(subscriber);
    if (subscribers.size === 0) this.byChannel.delete(channel);
  }

  /**
   * Calls `visit` once for each subscriber of any of `channels`. `eventId`
   * must be unique per event and increasing: a subscriber reached through a
   * second channel carries the stamp already and is skipped.
   */
  match(eventId: number, channels: readonly string[], visit: (subscriber: S) => void): void {
    for (const channel of channels) {
      const subscribers = this.byChannel.get(channel);
      if (!subscribers) continue;

      for (const subscriber of subscribers) {
        if (subscriber.lastMatchedEventId === eventId) continue;
        subscriber.lastMatchedEventId = eventId;
        visit(subscriber);
      }
    }
  }

  subscriberCount(channel: string): number {
    return this.byChannel.get(channel)?.size ?? 0;
  }
}
