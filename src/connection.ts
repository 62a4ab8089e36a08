import type { IndexedSubscriber } from './channel-index.js';
import type { Detail, FeedEvent, WireFormat } from './feed-event.js';
import type { Schedulable } from './flush-scheduler.js';
import { IntervalController, type IntervalSettings } from './interval-controller.js';
import { RingBuffer } from './ring-buffer.js';

/** The socket operations a connection uses; uWebSockets.js provides them in production. */
export interface Transport {
  /** Sends one frame; returns 1 when written, 0 when buffered under backpressure, 2 when dropped. */
  send(frame: Buffer | string, isBinary: boolean): number;
  getBufferedAmount(): number;
  end(code: number, reason: string): void;
}

export interface ConnectionOptions {
  id: string;
  format: WireFormat;
  detail: Detail;
  ringCapacity: number;
  interval: IntervalSettings;
  intervalFloor: { ms: number };
  now: number;
}

/** Matching events with after_id < id < before_id that a resume did not deliver; page them over HTTP. */
export interface BatchGap {
  after_id: number;
  before_id: number;
  /** False when the gap was longer than the history scan limit, so `dropped` counts only part of it. */
  exact: boolean;
}

interface InflightBatch {
  seq: number;
  sentAt: number;
}

/**
 * One client's state: its subscriptions, its ring of the newest matching
 * events, the batches in flight and the interval controller. The feed hub
 * drives it; it never touches the network except through its transport.
 */
export class Connection implements IndexedSubscriber, Schedulable {
  lastMatchedEventId = 0;
  flushDueAt = 0;
  flushSlot = -1;

  readonly id: string;
  readonly format: WireFormat;
  readonly detail: Detail;
  readonly channels = new Set<string>();
  readonly ring: RingBuffer<FeedEvent>;
  readonly interval: IntervalController;

  /** Matching events evicted from the ring since the previous batch. */
  droppedSinceBatch = 0;
  /** Seq of the last batch sent; batches are numbered 1, 2, 3… */
  seq = 0;
  lastFlushAt = 0;
  /** Last batch or heartbeat sent, for the heartbeat timer. */
  lastBeatAt: number;
  /** Last sign the client is reading: an ACK or a socket drain. */
  lastProgressAt: number;
  violations = 0;
  closed = false;
  /** Live events with id ≤ this were already covered by a resume; they are skipped. */
  resumeFloor = 0;
  /** True while a resume reads history: flushing waits so history goes out before live events. */
  holdFlush = false;
  /** Ids a resume could not deliver, reported once in the next batch. */
  pendingGap: BatchGap | undefined;
  transport: Transport | undefined;

  private readonly inflight: InflightBatch[] = [];

  constructor(options: ConnectionOptions) {
    this.id = options.id;
    this.format = options.format;
    this.detail = options.detail;
    this.ring = new RingBuffer(options.ringCapacity);
    this.interval = new IntervalController(options.interval, options.intervalFloor);
    this.lastBeatAt = options.now;
    this.lastProgressAt = options.now;
  }

  get inflightCount(): number {
    return this.inflight.length;
  }

  /** Send time of the oldest unacknowledged batch, if any. */
  get oldestInflightSentAt(): number | undefined {
    return this.inflight[0]?.sentAt;
  }

  /** Adds a matching event; returns true when the ring evicted an older one. */
  enqueue(event: FeedEvent): boolean {
    const evicted = this.ring.push(event);
    if (evicted) this.droppedSinceBatch += 1;
    return evicted;
  }

  /** Takes the ring's events for the next batch and records it as in flight. */
  takeBatch(now: number): { seq: number; dropped: number; events: FeedEvent[]; gap: BatchGap | undefined } {
    const events = this.ring.drain();
    const dropped = this.droppedSinceBatch;
    const gap = this.pendingGap;
    this.droppedSinceBatch = 0;
    this.pendingGap = undefined;
    this.seq += 1;
    this.inflight.push({ seq: this.seq, sentAt: now });
    this.lastFlushAt = now;
    this.lastBeatAt = now;
    return { seq: this.seq, dropped, events, gap };
  }

  /**
   * Applies a cumulative ACK. Returns the latency in ms of each newly
   * acknowledged batch, `[]` for a repeated ACK, or undefined when `seq`
   * names a batch not sent yet.
   */
  ack(seq: number, now: number): number[] | undefined {
    if (seq > this.seq) return undefined;

    const latencies: number[] = [];
    while (this.inflight.length > 0 && (this.inflight[0] as InflightBatch).seq <= seq) {
      const batch = this.inflight.shift() as InflightBatch;
      latencies.push(now - batch.sentAt);
    }
    for (const latency of latencies) this.interval.observe(latency);
    this.lastProgressAt = now;
    return latencies;
  }
}
