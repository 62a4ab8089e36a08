import type { MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { EventHistory } from './event-history.js';
import { FeedEvent } from './feed-event.js';
import type { FeedHub } from './feed-hub.js';
import { PUBLISHED_AT_HEADER } from './ingest-headers.js';
import { decodeKill, REJECT_REASONS } from './kill-decoder.js';
import type { KillStream } from './kill-stream.js';
import { RateLimitedLog } from './logger.js';
import type { Metrics } from './metrics.js';
import { RecentIds } from './recent-ids.js';
import type { Universe } from './universe.js';

export { PUBLISHED_AT_HEADER };

export interface IngestOptions {
  hub: FeedHub;
  history: EventHistory;
  universe: Universe;
  metrics: Metrics;
  logger: Logger;
  maxEventBytes: number;
  dedupeWindowMs: number;
}

/**
 * Turns NATS messages into feed events: validates each one, skips a
 * killmail seen within the deduplication window, records it in the
 * in-memory history and hands it to the hub. A bad message is counted by
 * reason, logged at most once per window and skipped. Decoding runs inside a
 * try block, so no message ends the subscription.
 *
 * Event ids come from the source: in JetStream mode the stream sequence
 * (the same on every replica), in core-NATS mode a counter local to this
 * process.
 */
export class Ingest {
  private subscription: Subscription | undefined;
  private stream: KillStream | undefined;
  private nextLocalId = 1;
  private readonly warnings: RateLimitedLog;
  private readonly recentIds: RecentIds;

  constructor(private readonly options: IngestOptions) {
    this.warnings = new RateLimitedLog(options.logger);
    this.recentIds = new RecentIds(options.dedupeWindowMs);
    options.metrics.initRejectReasons(REJECT_REASONS);
  }

  /** Core NATS: subscribes to `subject`; ids are a local counter. */
  startCore(nc: NatsConnection, subject: string): void {
    const { logger } = this.options;
    this.subscription = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) {
          logger.error({ err, subject }, 'nats subscription error');
          return;
        }
        this.accept(undefined, msg.subject, msg.data, msg.headers, Date.now());
      },
    });
    logger.info({ subject, mode: 'core' }, 'ingest subscribed');
  }

  /** JetStream: consumes the stream after its current last sequence; ids are stream sequences. */
  async startJetStream(stream: KillStream): Promise<void> {
    this.stream = stream;
    const { lastSeq } = await stream.bounds();
    this.options.hub.latestId = Math.max(this.options.hub.latestId, lastSeq);

    await stream.consume(lastSeq + 1, (message) => {
      // receivedAt is this replica's arrival time; the stored time would hide consumer lag.
      this.accept(message.seq, message.subject, message.data, message.headers, Date.now());
    });
    this.options.logger.info({ stream: stream.name, fromSeq: lastSeq + 1, mode: 'jetstream' }, 'ingest subscribed');
  }

  /**
   * Validates one message and publishes it; returns the event, or undefined
   * when skipped. `seq` is the stream sequence, or undefined in core mode,
   * where the next local id is taken only by an accepted event.
   */
  accept(seq: number | undefined, subject: string, data: Uint8Array, headers: MsgHdrs | undefined, receivedAt: number): FeedEvent | undefined {
    const { hub, history, universe, metrics, maxEventBytes } = this.options;

    let result;
    try {
      result = decodeKill(data, headers?.get('Content-Type') || undefined, { universe, maxBytes: maxEventBytes });
    } catch (err) {
      // decodeKill is written not to throw; this guard keeps the subscription alive if it ever does.
      metrics.eventsRejected.inc({ reason: 'invalid_killmail' });
      this.warnings.warn('decode_threw', { err, subject, bytes: data.length }, 'kill event rejected');
      return undefined;
    }

    if (!result.ok) {
      metrics.eventsRejected.inc({ reason: result.reason });
      this.warnings.warn(`rejected:${result.reason}`, { subject, bytes: data.length, reason: result.reason, detail: result.message }, 'kill event rejected');
      return undefined;
    }

    if (!this.recentIds.add(result.kill.killmailId, receivedAt)) {
      metrics.eventsDuplicate.inc();
      this.warnings.warn('duplicate', { subject, killmailId: result.kill.killmailId }, 'duplicate kill skipped');
      return undefined;
    }

    const id = seq ?? this.nextLocalId++;
    const event = new FeedEvent(id, receivedAt, result.kill, publishedAtOf(headers));
    metrics.eventsReceived.inc();
    history.append(event);
    hub.publish(event);
    return event;
  }

  async stop(): Promise<void> {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    await this.stream?.stop();
    this.stream = undefined;
  }
}

function publishedAtOf(headers: MsgHdrs | undefined): number | undefined {
  const raw = headers?.get(PUBLISHED_AT_HEADER);
  if (!raw) return undefined;

  const value = Number(raw);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}
