import type { Logger } from 'pino';
import WebSocket from 'ws';
import { unpack } from 'msgpackr';
import type { Universe } from './universe.js';

export interface TailOptions {
  url: string;
  channels: string[];
  format: 'json' | 'msgpack';
  /** Delay before acknowledging each batch, in ms; simulates a slow client. */
  ackDelayMs: number;
  universe: Universe;
  logger: Logger;
  out?: NodeJS.WritableStream;
  signal?: AbortSignal;
  /** Stop after printing this many kills. */
  limit?: number;
}

interface WireEvent {
  id: number;
  received_at: number;
  killmail?: {
    killmail_time?: string;
    solar_system_id?: number;
    victim?: { ship_type_id?: number; character_id?: number; alliance_id?: number };
    attackers?: unknown[];
  };
}

/**
 * A feed client for people: subscribes, acknowledges every batch and prints
 * one line per kill, plus a line whenever the gateway reports drops.
 * Resolves when the connection closes or the signal aborts.
 */
export interface TailResult {
  kills: number;
  dropped: number;
  closeCode: number;
  /** True when the gateway accepted none of the requested channels, so nothing could arrive. */
  noValidChannels: boolean;
}

export function tail(options: TailOptions): Promise<TailResult> {
  const out = options.out ?? process.stdout;
  const url = new URL(options.url);
  url.searchParams.set('format', options.format);
  if (options.channels.length > 0) url.searchParams.set('channels', options.channels.join(','));

  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let kills = 0;
    let dropped = 0;
    let noValidChannels = false;

    const stop = () => ws.close(1000, 'tail stopped');
    options.signal?.addEventListener('abort', stop, { once: true });

    ws.on('error', (err) => {
      options.signal?.removeEventListener('abort', stop);
      reject(err);
    });
    ws.on('close', (code) => {
      options.signal?.removeEventListener('abort', stop);
      resolve({ kills, dropped, closeCode: code, noValidChannels });
    });

    ws.on('message', (data: Buffer, isBinary) => {
      const message = (isBinary ? unpack(data) : JSON.parse(data.toString('utf8'))) as Record<string, unknown>;

      switch (message.op) {
        case 'welcome':
          options.logger.info({ url: url.toString(), connection: message.connection_id, latestId: message.latest_id }, 'tail connected');
          return;
        case 'batch': {
          if (typeof message.dropped === 'number' && message.dropped > 0) {
            dropped += message.dropped;
            out.write(`-- ${message.dropped} kills dropped (client too slow); ${dropped} in total\n`);
          }
          for (const event of (message.events ?? []) as WireEvent[]) {
            kills += 1;
            out.write(`${formatKill(event, options.universe)}\n`);
            if (options.limit !== undefined && kills >= options.limit) {
              stop();
              return;
            }
          }
          const ack = JSON.stringify({ op: 'ack', seq: message.seq });
          if (options.ackDelayMs > 0) setTimeout(() => ws.readyState === WebSocket.OPEN && ws.send(ack), options.ackDelayMs);
          else ws.send(ack);
          return;
        }
        case 'error':
          options.logger.warn({ code: message.code, detail: message.message }, 'gateway reported an error');
          return;
        case 'subscribed':
          options.logger.info({ channels: message.channels }, 'subscribed');
          if (Array.isArray(message.channels) && message.channels.length === 0 && options.channels.length > 0) {
            noValidChannels = true;
            ws.close(1000, 'no valid channels');
          }
          return;
        default:
          return;
      }
    });
  });
}

/** Formats one kill as a line: time, system, region, victim ship and attacker count. */
export function formatKill(event: WireEvent, universe: Universe): string {
  const killmail = event.killmail ?? {};
  const time = killmail.killmail_time ?? '?';
  const system = killmail.solar_system_id;
  const region = system === undefined ? undefined : universe.regionOf(system);
  const ship = killmail.victim?.ship_type_id;
  const group = ship === undefined ? undefined : universe.groupOf(ship);
  const attackers = Array.isArray(killmail.attackers) ? killmail.attackers.length : 0;

  return [
    `#${event.id}`,
    time,
    `system ${system ?? '?'}`,
    `region ${region ?? '?'}`,
    `victim ship ${ship ?? '?'} (group ${group ?? '?'})`,
    `${attackers} attacker${attackers === 1 ? '' : 's'}`,
  ].join('  ');
}
