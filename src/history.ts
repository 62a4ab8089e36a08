import type { EventHistory } from './event-history.js';
import { FeedEvent } from './feed-event.js';
import { decodeKill } from './kill-decoder.js';
import type { KillStream, StoredKill } from './kill-stream.js';
import type { Universe } from './universe.js';
import { PUBLISHED_AT_HEADER } from './ingest-headers.js';

export type EventFilter = (event: FeedEvent) => boolean;

export interface HistoryPage {
  /** Newest first. */
  events: FeedEvent[];
  /** Pass as before_id for the next page; null once the oldest retained event was reached. */
  nextBeforeId: number | null;
}

export interface ResumeRange {
  /** Matching events after the resume point, oldest first, at most `capacity`. */
  events: FeedEvent[];
  /** Matching events in the range that are not in `events` (older than the newest `capacity`). */
  missed: number;
  /** Whether `missed` counts the whole range; false when the range was longer than the scan limit. */
  missedExact: boolean;
  /** Oldest id still retained, when the requested point is older than that. */
  truncatedTo?: number;
}

export interface HistoryOptions {
  memory: EventHistory;
  stream?: KillStream;
  universe: Universe;
  maxEventBytes: number;
  /** Stream messages one request may read. */
  scanLimit: number;
}

/**
 * Past events for pagination and resume: the newest from memory, older
 * ones from the JetStream stream (when there is one), each request reading
 * a bounded number of stream messages.
 */
export class History {
  constructor(private readonly options: HistoryOptions) {}

  /** Oldest event id that can still be served, or undefined when nothing is retained. */
  async oldestRetainedId(): Promise<number | undefined> {
    const { memory, stream } = this.options;
    if (!stream) return memory.oldestId;

    const { firstSeq, lastSeq } = await stream.bounds();
    return firstSeq <= lastSeq ? firstSeq : undefined;
  }

  /** Newest retained id: the stream's last sequence, or memory's newest event. */
  async newestRetainedId(): Promise<number> {
    const { memory, stream } = this.options;
    if (!stream) return memory.newestId ?? 0;
    return (await stream.bounds()).lastSeq;
  }

  /**
   * Up to `limit` matching events with id < beforeId, newest first. Walking
   * nextBeforeId visits each retained matching event once: pages move
   * strictly down the id space, and ids never change.
   */
  async page(beforeId: number, limit: number, matches: EventFilter): Promise<HistoryPage> {
    const { memory, stream, scanLimit } = this.options;

    const events = memory.before(beforeId, limit, matches);
    if (events.length >= limit) return { events, nextBeforeId: (events.at(-1) as FeedEvent).id };

    const memoryOldest = memory.oldestId;
    const streamCursor = Math.min(beforeId, memoryOldest ?? beforeId);
    if (!stream) return { events, nextBeforeId: null };

    const { firstSeq } = await stream.bounds();
    const scanEnd = streamCursor - 1;
    if (scanEnd < firstSeq) return { events, nextBeforeId: null };

    const scanStart = Math.max(firstSeq, scanEnd - scanLimit + 1);
    const older = (await this.readStream(scanStart, scanEnd)).filter(matches).reverse();
    const needed = limit - events.length;
    events.push(...older.slice(0, needed));

    if (older.length >= needed) return { events, nextBeforeId: (events.at(-1) as FeedEvent).id };
    if (scanStart <= firstSeq) return { events, nextBeforeId: null };
    // The scan limit was reached before the page filled: continue below what was read.
    return { events, nextBeforeId: scanStart };
  }

  /**
   * Matching events with afterId < id ≤ upToId for a resuming client: the
   * newest `capacity` of them plus how many older ones it missed.
   */
  async range(afterId: number, upToId: number, capacity: number, matches: EventFilter): Promise<ResumeRange> {
    const { memory, stream, scanLimit } = this.options;
    const oldest = await this.oldestRetainedId();
    let from = afterId;
    let truncatedTo: number | undefined;
    if (oldest !== undefined && afterId + 1 < oldest) {
      truncatedTo = oldest;
      from = oldest - 1;
    }

    const fromMemory = memory.range(from, upToId, matches);
    const memoryOldest = memory.oldestId;
    let fromStream: FeedEvent[] = [];
    let missedExact = true;

    if (stream && (memoryOldest === undefined || from + 1 < memoryOldest)) {
      const streamEnd = Math.min(upToId, (memoryOldest ?? upToId + 1) - 1);
      // Read the newest part of the gap first: those are the events the client gets.
      const streamStart = Math.max(from + 1, streamEnd - scanLimit + 1);
      missedExact = streamStart === from + 1;
      fromStream = (await this.readStream(streamStart, streamEnd)).filter(matches);
    }

    const all = fromStream.concat(fromMemory);
    const events = all.slice(-capacity);
    const result: ResumeRange = { events, missed: all.length - events.length, missedExact };
    if (truncatedTo !== undefined) result.truncatedTo = truncatedTo;
    return result;
  }

  private async readStream(start: number, end: number): Promise<FeedEvent[]> {
    const { stream, universe, maxEventBytes } = this.options;
    if (!stream || end < start) return [];

    const stored = await stream.read(start, end, end - start + 1);
    const events: FeedEvent[] = [];
    for (const message of stored) {
      const event = toFeedEvent(message, universe, maxEventBytes);
      // NOTE: a stored message the live path rejected is skipped here too, silently.
      if (event) events.push(event);
    }
    return events;
  }
}

function toFeedEvent(message: StoredKill, universe: Universe, maxBytes: number): FeedEvent | undefined {
  const result = decodeKill(message.data, message.headers?.get('Content-Type') || undefined, { universe, maxBytes });
  if (!result.ok) return undefined;

  const publishedAt = Number(message.headers?.get(PUBLISHED_AT_HEADER));
  return new FeedEvent(message.seq, message.storedAt, result.kill, Number.isFinite(publishedAt) && publishedAt > 0 ? publishedAt : undefined);
}
