import type { MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { FeedEvent } from './feed-event.js';
import type { FeedHub } from './feed-hub.js';
import { decodeKill, REJECT_REASONS } from './kill-decoder.js';
import { RateLimitedLog } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Universe } from './universe.js';

export const PUBLISHED_AT_HEADER = 'Killfeed-Published-At';

export interface IngestOptions {
  nc: NatsConnection;
  subject: string;
  hub: FeedHub;
  universe: Universe;
  metrics: Metrics;
  logger: Logger;
  maxEventBytes: number;
}

/**
 * Subscribes to kill events on core NATS, validates each message, gives it
 * the next feed id and hands it to the hub. A bad message is counted by
 * reason, logged at most once per window and skipped; it never ends the
 * subscription.
 */
export class Ingest {
  private subscription: Subscription | undefined;
  private nextId = 1;
  private readonly warnings: RateLimitedLog;

  constructor(private readonly options: IngestOptions) {
    this.warnings = new RateLimitedLog(options.logger);
    options.metrics.initRejectReasons(REJECT_REASONS);
  }

  start(): void {
    const { nc, subject, logger } = this.options;
    this.subscription = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) {
          logger.error({ err, subject }, 'nats subscription error');
          return;
        }
        this.accept(msg.subject, msg.data, msg.headers);
      },
    });
    logger.info({ subject }, 'ingest subscribed');
  }

  /** Validates one message and publishes it to the hub; returns the event, or undefined when skipped. */
  accept(subject: string, data: Uint8Array, headers: MsgHdrs | undefined): FeedEvent | undefined {
    const { hub, universe, metrics, maxEventBytes } = this.options;

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

    const event = new FeedEvent(this.nextId++, Date.now(), result.kill, publishedAtOf(headers));
    metrics.eventsReceived.inc();
    hub.publish(event);
    return event;
  }

  stop(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }
}

function publishedAtOf(headers: MsgHdrs | undefined): number | undefined {
  const raw = headers?.get(PUBLISHED_AT_HEADER);
  if (!raw) return undefined;

  const value = Number(raw);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}
