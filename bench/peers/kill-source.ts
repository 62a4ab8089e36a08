import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';

import { channelsOfKill, summarizeKill } from '../../src/channels.js';
import type { Detail } from '../../src/feed-event.js';
import type { EsiKillmail } from '../../src/kill.js';
import type { Universe } from '../../src/universe.js';
import { PUBLISHED_AT_HEADER } from '../lib/publisher.js';

/** NATS subject pattern of the kill stream. */
export const KILL_SUBJECT = 'kills.>';

/** One kill, numbered and serialized once for every recipient. */
export interface PeerEvent {
  /** Feed id: 1, 2, 3… in order of arrival from NATS. */
  id: number;
  /**
   * The event object at the source's detail level, with the gateway's key
   * order: `{id, received_at, published_at, killmail, zkb}` for full, and
   * `{id, received_at, published_at, ...summarizeKill()}` for summary.
   */
  event: Record<string, unknown>;
  /** JSON of `event`. */
  json: string;
  channels: readonly string[];
}

export interface KillSourceOptions {
  natsUrl: string;
  universe: Universe;
  /** Detail level of every event, the same for all of the server's clients. */
  detail: Detail;
  logger: Logger;
  onEvent: (event: PeerEvent) => void;
}

/** A killmail message: a bare ESI killmail, or an R2Z2 package's `esi` with its `zkb`. */
interface ParsedKill {
  killmail: EsiKillmail;
  zkb: Record<string, unknown> | undefined;
}

/**
 * The comparison servers' input: a core NATS subscription to `kills.>` that
 * turns each message into a numbered event with its channel set. Checks only
 * the fields that channel matching and the summary read, unlike the
 * gateway's decoder.
 */
export class KillSource {
  private nextId = 1;
  private invalidMessages = 0;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly subscription: Subscription,
  ) {}

  static async start(options: KillSourceOptions): Promise<KillSource> {
    const nc = await connect({ servers: options.natsUrl, name: 'killfeed-bench-peer' });
    let source: KillSource | undefined;

    const subscription = nc.subscribe(KILL_SUBJECT, {
      callback: (err, msg) => {
        if (err !== null) {
          options.logger.error({ err }, 'nats subscription failed');
          return;
        }
        source?.handle(msg.data, msg.headers?.get(PUBLISHED_AT_HEADER), options);
      },
    });
    source = new KillSource(nc, subscription);

    // A flush round-trip makes sure the server has registered the subscription.
    await nc.flush();
    options.logger.info({ natsUrl: options.natsUrl, subject: KILL_SUBJECT }, 'nats subscribed');
    return source;
  }

  /** Id of the latest event, null before the first. */
  get latestId(): number | null {
    return this.nextId > 1 ? this.nextId - 1 : null;
  }

  async close(): Promise<void> {
    this.subscription.unsubscribe();
    await this.nc.close();
  }

  private handle(payload: Uint8Array, publishedAtHeader: string | undefined, options: KillSourceOptions): void {
    const receivedAt = Date.now();
    const parsed = parseKill(payload);
    if (parsed === undefined) {
      this.invalidMessages += 1;
      // Logs the first invalid message and then every 1,000th, with the running count.
      if (this.invalidMessages % 1000 === 1) {
        options.logger.warn({ invalidMessages: this.invalidMessages, bytes: payload.length }, 'invalid kill message skipped');
      }
      return;
    }

    const id = this.nextId;
    this.nextId += 1;

    const { killmail, zkb } = parsed;
    const publishedAt = Number(publishedAtHeader);
    const head: Record<string, unknown> = { id, received_at: receivedAt };
    if (publishedAtHeader !== undefined && Number.isFinite(publishedAt)) head.published_at = publishedAt;

    let event: Record<string, unknown>;
    if (options.detail === 'summary') {
      event = { ...head, ...summarizeKill(killmail, zkb, options.universe) };
    } else {
      event = head;
      event.killmail = killmail;
      if (zkb !== undefined) event.zkb = zkb;
    }

    options.onEvent({ id, event, json: JSON.stringify(event), channels: channelsOfKill(killmail, options.universe) });
  }
}

function parseKill(payload: Uint8Array): ParsedKill | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isObject(value)) return undefined;

  if (!Object.hasOwn(value, 'esi')) {
    const killmail = validKillmail(value);
    return killmail === undefined ? undefined : { killmail, zkb: undefined };
  }

  const { esi, zkb } = value;
  const killmail = validKillmail(esi);
  if (killmail === undefined) return undefined;
  if (zkb !== undefined && !isObject(zkb)) return undefined;
  return { killmail, zkb };
}

function validKillmail(value: unknown): EsiKillmail | undefined {
  if (!isObject(value)) return undefined;

  const killmail = value as Partial<EsiKillmail>;
  if (typeof killmail.killmail_id !== 'number' || typeof killmail.solar_system_id !== 'number') return undefined;
  if (typeof killmail.victim !== 'object' || killmail.victim === null) return undefined;
  if (!Array.isArray(killmail.attackers)) return undefined;
  return killmail as EsiKillmail;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
