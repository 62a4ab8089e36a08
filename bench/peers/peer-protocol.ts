/**
 * Server side of the v1 protocol subset that the comparison servers speak:
 * welcome, batch with seq and dropped, subscribed/unsubscribed, pong, and
 * the client's sub, unsub, ack and ping messages. Channels are compared as
 * strings: a peer accepts any `type:id` key and does not check ids against
 * the universe map as the gateway does.
 */
import type { Logger } from 'pino';

import type { Detail } from '../../src/feed-event.js';

/** Detail levels a peer can serve, the same as the gateway's `detail` query values. */
export const PEER_DETAILS: readonly Detail[] = ['full', 'summary'];

const CHANNEL_KEY = /^[a-z]+:(\*|[1-9][0-9]{0,18})$/;

/** Maximum channels one connection may name in one query or message. */
export const MAX_CHANNELS_PER_REQUEST = 64;

export type ClientMessage =
  | { op: 'sub' | 'unsub'; channels: string[] }
  | { op: 'ack'; seq: number }
  | { op: 'ping' };

export interface WelcomeOptions {
  connectionId: string;
  /** Flush interval in ms: 0 for servers that send each event on its own. */
  intervalMs: number;
  latestId: number | null;
}

export function welcomeFrame(options: WelcomeOptions): Record<string, unknown> {
  return {
    op: 'welcome',
    version: 1,
    connection_id: options.connectionId,
    interval_ms: { min: options.intervalMs, max: options.intervalMs, current: options.intervalMs },
    ring_capacity: 0,
    heartbeat_ms: 0,
    latest_id: options.latestId,
  };
}

/**
 * Builds a batch frame around events that are already JSON, so a server
 * serializes each event once and not once per recipient.
 */
export function batchFrameJson(seq: number, dropped: number, eventJsons: readonly string[]): string {
  return `{"op":"batch","seq":${seq},"dropped":${dropped},"events":[${eventJsons.join(',')}]}`;
}

/**
 * Splits a `channels` query value or message list into distinct channel keys,
 * skipping entries that are not `type:id` or `all:*`, up to
 * MAX_CHANNELS_PER_REQUEST keys.
 */
export function parseChannelList(raw: string | readonly unknown[] | null | undefined): string[] {
  if (raw === null || raw === undefined) return [];

  const entries = typeof raw === 'string' ? raw.split(',') : raw;
  const channels = new Set<string>();
  for (const entry of entries) {
    if (typeof entry !== 'string') continue;

    const channel = entry.trim();
    if (CHANNEL_KEY.test(channel)) channels.add(channel);
    if (channels.size >= MAX_CHANNELS_PER_REQUEST) break;
  }
  return [...channels];
}

/**
 * Check of each connection's `detail` query value against the one detail
 * level that the peer serves. A missing value means full, as on the gateway.
 */
export class DetailCheck {
  private rejectedConnections = 0;

  constructor(
    private readonly served: Detail,
    private readonly logger: Logger,
  ) {}

  /** Returns the reason to reject a connection that requests `requested`, or undefined to accept it. */
  rejectionReason(requested: string | null | undefined): string | undefined {
    const detail = requested ?? 'full';
    if (detail === this.served) return undefined;

    this.rejectedConnections += 1;
    // Logs the first rejection and then every 1,000th, with the running count.
    if (this.rejectedConnections % 1000 === 1) {
      this.logger.warn({ requested: detail, served: this.served, rejectedConnections: this.rejectedConnections }, 'connection rejected for its detail');
    }
    return `detail=${JSON.stringify(detail)} is not served; this server sends detail=${this.served} to every client (its --detail flag)`;
  }
}

/** Body of the HTTP 400 response to a rejected upgrade, in the gateway's error shape. */
export function invalidDetailBody(message: string): string {
  return JSON.stringify({ error: 'invalid_parameter', parameter: 'detail', message });
}

/** Parses a client text message; returns undefined for anything that is not a v1 client message. */
export function parseClientMessage(text: string): ClientMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;

  const message = value as Record<string, unknown>;
  switch (message.op) {
    case 'sub':
    case 'unsub':
      if (!Array.isArray(message.channels)) return undefined;
      return { op: message.op, channels: parseChannelList(message.channels) };
    case 'ack':
      return typeof message.seq === 'number' ? { op: 'ack', seq: message.seq } : undefined;
    case 'ping':
      return { op: 'ping' };
    default:
      return undefined;
  }
}

/** Prometheus text with the heap and RSS gauges that bench/run.ts samples during a soak. */
export function processMetricsText(): string {
  const memory = process.memoryUsage();
  return [
    '# HELP nodejs_heap_size_used_bytes Process heap size used from Node.js in bytes.',
    '# TYPE nodejs_heap_size_used_bytes gauge',
    `nodejs_heap_size_used_bytes ${memory.heapUsed}`,
    '# HELP process_resident_memory_bytes Resident memory size in bytes.',
    '# TYPE process_resident_memory_bytes gauge',
    `process_resident_memory_bytes ${memory.rss}`,
    '',
  ].join('\n');
}
