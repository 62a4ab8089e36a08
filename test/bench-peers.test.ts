import { headers, connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { io as connectSocketIo, type Socket as SocketIoSocket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { buildFeedUrl, decodeFrame, eventDetail, parseFrame, type FeedEvent as WireEvent, type ServerFrame } from '../bench/k6/lib/killfeed-protocol.js';
import { loadCorpus, type CorpusKill } from '../bench/lib/corpus.js';
import { PUBLISHED_AT_HEADER, publishAtRate } from '../bench/lib/publisher.js';
import type { PeerServer } from '../bench/peers/peer-server.js';
import { PEER_KINDS, startPeer, type PeerKind } from '../bench/peers/start-peer.js';
import { FeedEvent, type Detail } from '../src/feed-event.js';
import { killFromValue } from '../src/kill-decoder.js';
import { Universe } from '../src/universe.js';
import { NatsServer } from './support/nats-server.js';

/** Corpus kills published per case, plus one R2Z2 package with a zkb block. */
const CORPUS_KILLS = 20;
const R2Z2_KILLMAIL_ID = 8_000_000_001;
const R2Z2_TOTAL_VALUE = 123_456_789.5;

let nats: NatsServer;
let nc: NatsConnection;
let universe: Universe;
let corpus: CorpusKill[];

beforeAll(async () => {
  nats = await NatsServer.start();
  nc = await connect({ servers: nats.url });
  universe = Universe.load();
  corpus = loadCorpus(undefined, universe);
});

afterAll(async () => {
  await nc?.close();
  await nats?.dispose();
});

/** A client on all:* that keeps every event it receives and resolves waits on the event count. */
interface EventCollector {
  readonly events: WireEvent[];
  waitForEvents(count: number): Promise<void>;
  close(): void;
}

function collect(onFrame: (listener: (frame: ServerFrame) => void) => void, close: () => void): Promise<EventCollector> {
  const events: WireEvent[] = [];
  let waiter: { count: number; resolve: () => void } | undefined;

  return new Promise((resolveWelcome) => {
    const collector: EventCollector = {
      events,
      waitForEvents: (count) => {
        if (events.length >= count) return Promise.resolve();
        return new Promise((resolve) => (waiter = { count, resolve }));
      },
      close,
    };

    onFrame((frame) => {
      if (frame.op === 'welcome') resolveWelcome(collector);
      if (frame.op !== 'batch') return;

      events.push(...frame.events);
      if (waiter !== undefined && events.length >= waiter.count) waiter.resolve();
    });
  });
}

function openCollector(kind: PeerKind, port: number, detail: Detail): Promise<EventCollector> {
  if (kind === 'socketio') {
    const socket = connectSocketIo(`http://127.0.0.1:${port}`, {
      transports: ['websocket'],
      query: { channels: 'all:*', detail },
      reconnection: false,
      forceNew: true,
    });
    return collect(
      (listener) => socket.on('frame', (value: unknown) => listener(decodeFrame(value))),
      () => socket.disconnect(),
    );
  }

  const socket = new WebSocket(buildFeedUrl(`ws://127.0.0.1:${port}/v1/feed`, { format: 'json', channels: ['all:*'], detail }));
  return collect(
    (listener) => socket.on('message', (data) => listener(parseFrame(data.toString()))),
    () => socket.close(),
  );
}

/**
 * Opens a connection that requests `detail`, or names none, and returns how
 * the server rejected it, or the message `connected` when it accepted it.
 */
function rejectionOf(kind: PeerKind, port: number, detail: Detail | undefined): Promise<{ status: number | undefined; message: string }> {
  if (kind === 'socketio') {
    return new Promise((resolve) => {
      const socket: SocketIoSocket = connectSocketIo(`http://127.0.0.1:${port}`, {
        transports: ['websocket'],
        query: detail === undefined ? { channels: 'all:*' } : { channels: 'all:*', detail },
        reconnection: false,
        forceNew: true,
      });
      socket.on('connect', () => {
        socket.disconnect();
        resolve({ status: undefined, message: 'connected' });
      });
      socket.on('connect_error', (err) => {
        socket.disconnect();
        resolve({ status: undefined, message: err.message });
      });
    });
  }

  return new Promise((resolve) => {
    const socket = new WebSocket(buildFeedUrl(`ws://127.0.0.1:${port}/v1/feed`, { format: 'json', channels: ['all:*'], detail }));
    socket.on('open', () => {
      socket.close();
      resolve({ status: 101, message: 'connected' });
    });
    socket.on('error', () => undefined);
    socket.on('unexpected-response', (request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => {
        request.destroy();
        const parsed = JSON.parse(body) as { parameter?: string; message?: string };
        resolve({ status: response.statusCode, message: `${parsed.parameter}: ${parsed.message}` });
      });
    });
  });
}

/** Publishes an R2Z2 package: the ESI killmail under `esi` and a zkb block with totalValue. */
function publishR2z2Package(kill: CorpusKill): Record<string, unknown> {
  const esi = { ...kill.killmail, killmail_id: R2Z2_KILLMAIL_ID };
  const pkg = { killmail_id: R2Z2_KILLMAIL_ID, esi, zkb: { totalValue: R2Z2_TOTAL_VALUE, hash: 'abc' } };

  const messageHeaders = headers();
  messageHeaders.set(PUBLISHED_AT_HEADER, String(Date.now()));
  nc.publish(kill.subject, JSON.stringify(pkg), { headers: messageHeaders });
  return pkg;
}

/** Returns the JSON text the gateway sends for the same message at `detail`, from src/feed-event.ts. */
function gatewayEncoding(event: WireEvent, message: unknown, detail: Detail): string {
  const result = killFromValue(message, universe);
  if (!result.ok) throw new Error(`the gateway's decoder rejected the message: ${result.message}`);
  return new FeedEvent(event.id, event.received_at ?? 0, result.kill, event.published_at).encoded('json', detail).toString();
}

function killmailIdOf(event: WireEvent): number | undefined {
  if (event.killmail_id !== undefined) return event.killmail_id;
  const id = event.killmail?.killmail_id;
  return typeof id === 'number' ? id : undefined;
}

describe.each(PEER_KINDS)('%s peer', (kind) => {
  describe.each(['full', 'summary'] as const)('at detail %s', (detail) => {
    let peer: PeerServer;

    beforeAll(async () => {
      peer = await startPeer(kind, { port: 0, natsUrl: nats.url, universe, logger: pino({ level: 'silent' }), detail });
    });

    afterAll(async () => {
      await peer?.close();
    });

    it('sends the same event bytes as the gateway', async () => {
      const client = await openCollector(kind, peer.port, detail);

      const report = await publishAtRate(nc, corpus, { startIndex: 0, count: CORPUS_KILLS, ratePerSecond: 2000 });
      const r2z2 = publishR2z2Package(corpus[0] as CorpusKill);
      await client.waitForEvents(CORPUS_KILLS + 1);
      client.close();

      const messages = new Map<number, unknown>(report.publishedIndices.map((index) => [corpus[index]?.killmailId ?? -1, corpus[index]?.killmail]));
      messages.set(R2Z2_KILLMAIL_ID, r2z2);

      expect(client.events).toHaveLength(CORPUS_KILLS + 1);
      for (const event of client.events) {
        const killmailId = killmailIdOf(event);
        expect(eventDetail(event)).toBe(detail);
        expect(killmailId).toBeDefined();
        expect(JSON.stringify(event)).toBe(gatewayEncoding(event, messages.get(killmailId ?? -1), detail));
      }

      const packaged = client.events.find((event) => killmailIdOf(event) === R2Z2_KILLMAIL_ID);
      if (detail === 'summary') {
        expect(packaged).toHaveProperty('total_value', R2Z2_TOTAL_VALUE);
      } else {
        expect(packaged).toHaveProperty('zkb.totalValue', R2Z2_TOTAL_VALUE);
      }
    });

    it('rejects a client that requests the other detail', async () => {
      const other: Detail = detail === 'full' ? 'summary' : 'full';
      const rejection = await rejectionOf(kind, peer.port, other);

      if (kind !== 'socketio') expect(rejection.status).toBe(400);
      expect(rejection.message).toContain(`detail="${other}" is not served`);
    });

    it('treats a missing detail as full', async () => {
      const outcome = await rejectionOf(kind, peer.port, undefined);

      if (detail === 'full') {
        expect(outcome.message).toBe('connected');
        return;
      }
      if (kind !== 'socketio') expect(outcome.status).toBe(400);
      expect(outcome.message).toContain('detail="full" is not served');
    });
  });
});
