import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { connect, type NatsConnection } from '@nats-io/transport-node';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import {
  DEDUPE_WINDOW_IDS,
  ackMessage,
  applyBatch,
  buildFeedUrl,
  buildMatchIndex,
  countMatched,
  createFeedCounters,
  decodeFrame,
  eventDetail,
  eventFreshnessMs,
  parseFrame,
  unaccountedEvents,
  type BatchFrame,
  type FeedCounters,
  type ServerFrame,
} from '../bench/k6/lib/killfeed-protocol.js';
import { loadCorpus, type CorpusKill } from '../bench/lib/corpus.js';
import { publishAtRate } from '../bench/lib/publisher.js';
import type { PeerServer } from '../bench/peers/peer-server.js';
import { startWsPeer } from '../bench/peers/ws-server.js';
import { FeedEvent } from '../src/feed-event.js';
import { killFromValue } from '../src/kill-decoder.js';
import { Universe } from '../src/universe.js';
import { NatsServer } from './support/nats-server.js';

function batch(seq: number, ids: number[], extra: Partial<BatchFrame> = {}): BatchFrame {
  return { op: 'batch', seq, dropped: 0, events: ids.map((id) => ({ id, received_at: 1000 })), ...extra };
}

describe('buildFeedUrl', () => {
  it('returns the base unchanged without a query', () => {
    expect(buildFeedUrl('ws://127.0.0.1:8080/v1/feed')).toBe('ws://127.0.0.1:8080/v1/feed');
  });

  it('encodes format, channels and detail', () => {
    const url = buildFeedUrl('ws://127.0.0.1:8080/v1/feed', {
      format: 'msgpack',
      channels: ['all:*', 'alliance:99000001'],
      detail: 'summary',
    });

    const parsed = new URL(url);
    expect(parsed.pathname).toBe('/v1/feed');
    expect(parsed.searchParams.get('format')).toBe('msgpack');
    expect(parsed.searchParams.get('channels')).toBe('all:*,alliance:99000001');
    expect(parsed.searchParams.get('detail')).toBe('summary');
  });

  it('appends to an existing query', () => {
    const url = buildFeedUrl('ws://h/v1/feed?token=x', { format: 'json' });
    expect(url).toBe('ws://h/v1/feed?token=x&format=json');
  });

  it('leaves out an empty channel list', () => {
    expect(buildFeedUrl('ws://h/v1/feed', { channels: [] })).toBe('ws://h/v1/feed');
  });
});

describe('parseFrame', () => {
  it('parses a welcome frame', () => {
    const frame = parseFrame(
      JSON.stringify({
        op: 'welcome',
        version: 1,
        connection_id: 'c1',
        interval_ms: { min: 20, max: 1000, current: 100 },
        ring_capacity: 100,
        heartbeat_ms: 15000,
        latest_id: 42,
      }),
    );

    expect(frame).toEqual({
      op: 'welcome',
      version: 1,
      connection_id: 'c1',
      interval_ms: { min: 20, max: 1000, current: 100 },
      ring_capacity: 100,
      heartbeat_ms: 15000,
      latest_id: 42,
    });
  });

  it('parses a batch frame', () => {
    const frame = parseFrame('{"op":"batch","seq":3,"dropped":2,"events":[{"id":7,"received_at":5}]}');
    expect(frame).toEqual({ op: 'batch', seq: 3, dropped: 2, events: [{ id: 7, received_at: 5 }] });
  });

  it('parses subscription, pong, heartbeat and error frames', () => {
    expect(parseFrame('{"op":"subscribed","channels":["all:*"]}')).toEqual({ op: 'subscribed', channels: ['all:*'] });
    expect(parseFrame('{"op":"pong"}')).toEqual({ op: 'pong' });
    expect(parseFrame('{"op":"heartbeat","latest_id":null}')).toEqual({ op: 'heartbeat', latest_id: null });
    expect(parseFrame('{"op":"error","code":"invalid_channel","message":"bad"}')).toEqual({
      op: 'error',
      code: 'invalid_channel',
      message: 'bad',
    });
  });

  const invalidCases: Array<[string, string, RegExp]> = [
    ['malformed JSON', '{"op":', /invalid JSON/],
    ['a JSON array', '[1,2]', /not a JSON object/],
    ['an unknown op', '{"op":"hello"}', /unknown op "hello"/],
    ['another protocol version', '{"op":"welcome","version":2}', /version 2, expected 1/],
    ['a negative seq', '{"op":"batch","seq":-1,"dropped":0,"events":[]}', /seq -1/],
    ['a fractional dropped count', '{"op":"batch","seq":1,"dropped":0.5,"events":[]}', /dropped 0.5/],
    ['a batch without events', '{"op":"batch","seq":1,"dropped":0}', /no events array/],
    ['an event without an id', '{"op":"batch","seq":1,"dropped":0,"events":[{"received_at":1}]}', /without a numeric id/],
    ['subscribed without channels', '{"op":"subscribed"}', /no channels array/],
  ];

  it.each(invalidCases)('reports %s as invalid', (_name, text, reason) => {
    const frame = parseFrame(text);
    expect(frame.op).toBe('invalid');
    expect(frame.op === 'invalid' ? frame.reason : '').toMatch(reason);
  });

  it('returns a frame for any text', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        expect(typeof parseFrame(text).op).toBe('string');
      }),
    );
  });

  it('returns a frame for any JSON value with an op', () => {
    const op = fc.constantFrom('welcome', 'batch', 'subscribed', 'unsubscribed', 'pong', 'heartbeat', 'error', 'other');
    fc.assert(
      fc.property(op, fc.dictionary(fc.string(), fc.jsonValue()), (name, fields) => {
        expect(typeof decodeFrame({ ...fields, op: name }).op).toBe('string');
        expect(typeof parseFrame(JSON.stringify({ ...fields, op: name })).op).toBe('string');
      }),
    );
  });

  it('reports a BigInt op as invalid', () => {
    const frame = decodeFrame({ op: 10n });
    expect(frame).toEqual({ op: 'invalid', reason: 'unknown op 10' });
  });

  it('decodes an object the same way as its JSON text', () => {
    const value = { op: 'batch', seq: 1, dropped: 0, events: [{ id: 1 }] };
    expect(decodeFrame(value)).toEqual(parseFrame(JSON.stringify(value)));
  });
});

describe('eventFreshnessMs', () => {
  it('measures from published_at', () => {
    expect(eventFreshnessMs({ id: 1, received_at: 900, published_at: 800 }, 1000)).toBe(200);
  });

  it('falls back to received_at without published_at', () => {
    expect(eventFreshnessMs({ id: 1, received_at: 900 }, 1000)).toBe(100);
  });

  it('returns undefined without either time', () => {
    expect(eventFreshnessMs({ id: 1 }, 1000)).toBeUndefined();
  });
});

describe('eventDetail', () => {
  it('recognizes a full event by its killmail object', () => {
    expect(eventDetail({ id: 1, killmail: { killmail_id: 7 } })).toBe('full');
  });

  it('recognizes a summary event by its top-level killmail_id', () => {
    expect(eventDetail({ id: 1, killmail_id: 7 })).toBe('summary');
  });

  it('returns undefined for an event with neither', () => {
    expect(eventDetail({ id: 1 })).toBeUndefined();
  });
});

describe('applyBatch', () => {
  it('counts full and summary events of one kill alike', () => {
    const universe = Universe.load();
    const result = killFromValue(loadCorpus(undefined, universe)[0]?.killmail, universe);
    if (!result.ok) throw new Error(result.message);
    const event = new FeedEvent(41, 1000, result.kill, 900);

    for (const detail of ['full', 'summary'] as const) {
      const frame = parseFrame(`{"op":"batch","seq":1,"dropped":0,"events":[${event.encoded('json', detail).toString()}]}`);
      if (frame.op !== 'batch') throw new Error(`expected a batch frame, got ${JSON.stringify(frame)}`);

      const counters = createFeedCounters();
      const outcome = applyBatch(counters, frame, 1150);

      expect(eventDetail(frame.events[0] ?? { id: 0 })).toBe(detail);
      expect(outcome.newEvents).toBe(1);
      expect(outcome.freshnessMs).toEqual([250]);
      expect(counters.maxId).toBe(41);
    }
  });

  it('returns the cumulative ACK for a numbered batch', () => {
    const counters = createFeedCounters();
    const outcome = applyBatch(counters, batch(1, [1, 2]), 1100);

    expect(outcome.ack).toBe(ackMessage(1));
    expect(JSON.parse(outcome.ack ?? '')).toEqual({ op: 'ack', seq: 1 });
    expect(outcome.eventCount).toBe(2);
    expect(outcome.newEvents).toBe(2);
    expect(outcome.freshnessMs).toEqual([100, 100]);
    expect(counters.delivered).toBe(2);
    expect(counters.batches).toBe(1);
  });

  it('sends no ACK for an unnumbered batch and skips the gap check', () => {
    const counters = createFeedCounters();
    applyBatch(counters, batch(0, [1]), 1000);
    const outcome = applyBatch(counters, batch(0, [2]), 1000);

    expect(outcome.ack).toBeUndefined();
    expect(outcome.seqGap).toBe(0);
    expect(counters.seqGaps).toBe(0);
    expect(counters.seqRegressions).toBe(0);
  });

  it('counts skipped and repeated batch numbers', () => {
    const counters = createFeedCounters();
    applyBatch(counters, batch(1, [1]), 1000);
    const gap = applyBatch(counters, batch(4, [2]), 1000);
    applyBatch(counters, batch(4, [3]), 1000);

    expect(gap.seqGap).toBe(2);
    expect(counters.seqGaps).toBe(2);
    expect(counters.seqRegressions).toBe(1);
    expect(counters.lastSeq).toBe(4);
  });

  it('treats a first batch above 1 as a gap', () => {
    const counters = createFeedCounters();
    expect(applyBatch(counters, batch(3, [1]), 1000).seqGap).toBe(2);
  });

  it('adds up the dropped counts', () => {
    const counters = createFeedCounters();
    applyBatch(counters, batch(1, [1], { dropped: 5 }), 1000);
    applyBatch(counters, batch(2, [9], { dropped: 3 }), 1000);

    expect(counters.dropped).toBe(8);
    expect(counters.delivered).toBe(2);
  });

  it('counts an id that is not above the maximum as reordered without deduplication', () => {
    const counters = createFeedCounters();
    applyBatch(counters, batch(1, [5, 3, 5]), 1000);

    expect(counters.delivered).toBe(3);
    expect(counters.reordered).toBe(2);
    expect(counters.duplicates).toBe(0);
  });

  it('excludes duplicates from delivered with deduplication', () => {
    const counters = createFeedCounters({ dedupe: true });
    const outcome = applyBatch(counters, batch(0, [5, 3, 5, 3]), 1000);

    expect(outcome.newEvents).toBe(2);
    expect(outcome.freshnessMs).toHaveLength(2);
    expect(counters.delivered).toBe(2);
    expect(counters.duplicates).toBe(2);
    expect(counters.reordered).toBe(1);
  });

  it('forgets ids older than the deduplication window', () => {
    const counters = createFeedCounters({ dedupe: true });
    const ids = Array.from({ length: 3 * DEDUPE_WINDOW_IDS }, (_, index) => index + 1);
    applyBatch(counters, batch(0, ids), 1000);

    expect(counters.seenIds?.size).toBeLessThanOrEqual(2 * DEDUPE_WINDOW_IDS);
    // Id 1 is outside the window now, so a repeat counts as a reordered new event.
    applyBatch(counters, batch(0, [1]), 1000);
    expect(counters.duplicates).toBe(0);
    expect(counters.reordered).toBe(1);
    // The newest id is still remembered.
    applyBatch(counters, batch(0, [3 * DEDUPE_WINDOW_IDS]), 1000);
    expect(counters.duplicates).toBe(1);
  });
});

describe('match counting', () => {
  const published = [
    ['all:*', 'system:1', 'region:10'],
    ['all:*', 'system:2', 'region:10', 'alliance:7'],
    ['all:*', 'system:1', 'region:10', 'alliance:7'],
    ['all:*', 'system:3', 'region:20'],
  ];
  const index = buildMatchIndex(published);

  it('counts every event for all:*', () => {
    expect(countMatched(index, ['all:*'])).toBe(4);
  });

  it('counts an event once when several channels match it', () => {
    expect(countMatched(index, ['system:1', 'alliance:7'])).toBe(3);
    expect(countMatched(index, ['region:10', 'system:1', 'system:2'])).toBe(3);
  });

  it('counts a channel listed twice once', () => {
    expect(countMatched(index, ['system:1', 'system:1'])).toBe(2);
  });

  it('counts nothing for an unknown channel', () => {
    expect(countMatched(index, ['alliance:99'])).toBe(0);
  });

  it('adds a position once for a channel repeated in one event', () => {
    const repeated = buildMatchIndex([['system:1', 'system:1']]);
    expect(repeated.get('system:1')).toEqual([0]);
  });

  it('reports the balance of matched, delivered and dropped', () => {
    const counters: FeedCounters = { ...createFeedCounters(), matched: 10, delivered: 7, dropped: 2 };
    expect(unaccountedEvents(counters)).toBe(1);
  });
});

describe('protocol declaration file', () => {
  it('matches the declarations generated from the module', () => {
    const outDir = mkdtempSync(join(tmpdir(), 'killfeed-protocol-types-'));
    try {
      execFileSync(
        process.execPath,
        [
          join('node_modules', 'typescript', 'bin', 'tsc'),
          '-p',
          'bench/k6/tsconfig.protocol-types.json',
          '--outDir',
          outDir,
        ],
        { stdio: 'pipe' },
      );

      const generated = readFileSync(join(outDir, 'killfeed-protocol.d.ts'), 'utf8');
      const committed = readFileSync('bench/k6/lib/killfeed-protocol.d.ts', 'utf8');
      expect(committed, 'regenerate with: npx tsc -p bench/k6/tsconfig.protocol-types.json').toBe(generated);
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  });
});

/** A `ws` client that records every frame and resolves when a condition holds. */
class RecordingClient {
  readonly frames: ServerFrame[] = [];
  readonly counters = createFeedCounters();
  readonly sent: string[] = [];
  private waiters: Array<{ test: () => boolean; resolve: () => void }> = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const frame = parseFrame(data.toString());
      this.frames.push(frame);
      if (frame.op === 'batch') {
        const outcome = applyBatch(this.counters, frame, Date.now());
        if (outcome.ack !== undefined) {
          socket.send(outcome.ack);
          this.sent.push(outcome.ack);
        }
      }
      this.waiters = this.waiters.filter((waiter) => {
        if (!waiter.test()) return true;
        waiter.resolve();
        return false;
      });
    });
  }

  static async open(url: string): Promise<RecordingClient> {
    const socket = new WebSocket(url);
    const client = new RecordingClient(socket);
    await client.until(() => client.frames.some((frame) => frame.op === 'welcome'));
    return client;
  }

  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  close(): void {
    this.socket.close();
  }
}

describe('protocol module against the ws peer', () => {
  let nats: NatsServer;
  let peer: PeerServer;
  let nc: NatsConnection;
  let corpus: CorpusKill[];

  beforeAll(async () => {
    nats = await NatsServer.start();
    const universe = Universe.load();
    corpus = loadCorpus(undefined, universe);
    peer = await startWsPeer({ port: 0, natsUrl: nats.url, universe, logger: pino({ level: 'silent' }), detail: 'full' });
    nc = await connect({ servers: nats.url });
  });

  afterAll(async () => {
    await nc?.close();
    await peer?.close();
    await nats?.dispose();
  });

  it('counts, numbers and acknowledges every matching event', async () => {
    const base = `ws://127.0.0.1:${peer.port}/v1/feed`;
    const busiestSystem = mostCommonChannel(corpus.slice(0, 120), 'system:');

    const everything = await RecordingClient.open(buildFeedUrl(base, { format: 'json', channels: ['all:*'] }));
    const filtered = await RecordingClient.open(buildFeedUrl(base, { format: 'json', channels: [busiestSystem] }));

    const report = await publishAtRate(nc, corpus, { startIndex: 0, count: 120, ratePerSecond: 2000 });
    const index = buildMatchIndex(report.publishedIndices.map((position) => corpus[position]?.channels ?? []));
    everything.counters.matched = countMatched(index, ['all:*']);
    filtered.counters.matched = countMatched(index, [busiestSystem]);

    await everything.until(() => everything.counters.delivered >= everything.counters.matched);
    await filtered.until(() => filtered.counters.delivered >= filtered.counters.matched);

    expect(everything.counters.matched).toBe(120);
    expect(filtered.counters.matched).toBeGreaterThan(1);
    for (const client of [everything, filtered]) {
      expect(unaccountedEvents(client.counters)).toBe(0);
      expect(client.counters.seqGaps).toBe(0);
      expect(client.counters.seqRegressions).toBe(0);
      expect(client.counters.reordered).toBe(0);
      expect(client.sent.at(-1)).toBe(ackMessage(client.counters.lastSeq));
      expect(client.frames.filter((frame) => frame.op === 'invalid')).toEqual([]);
    }

    const events = everything.frames.flatMap((frame) => (frame.op === 'batch' ? frame.events : []));
    expect(events.every((event) => typeof event.published_at === 'number')).toBe(true);
    expect(events.every((event) => (eventFreshnessMs(event, Date.now()) ?? -1) >= 0)).toBe(true);

    everything.close();
    filtered.close();
  });
});

function mostCommonChannel(kills: readonly CorpusKill[], prefix: string): string {
  const counts = new Map<string, number>();
  for (const kill of kills) {
    for (const channel of kill.channels) {
      if (channel.startsWith(prefix)) counts.set(channel, (counts.get(channel) ?? 0) + 1);
    }
  }
  const [best] = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  if (best === undefined) throw new Error(`no ${prefix} channel in the first ${kills.length} kills`);
  return best[0];
}
