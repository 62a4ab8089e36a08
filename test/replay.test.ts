import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { unpack } from 'msgpackr';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeKill } from '../src/kill-decoder.js';
import { MESSAGE_ID_HEADER, PUBLISHED_AT_HEADER, replayCorpus } from '../src/replay.js';
import { Universe } from '../src/universe.js';
import { NatsServer } from './support/nats-server.js';

const CORPUS_FILE = fileURLToPath(new URL('../data/killmails/2021-11-28T00-03.jsonl.gz', import.meta.url));

const universe = Universe.load();
const corpusLines = gunzipSync(readFileSync(CORPUS_FILE)).toString('utf8').split('\n').filter((line) => line !== '');

interface LogEntry {
  level: number;
  msg: string;
  [field: string]: unknown;
}

function captureLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      entries.push(JSON.parse(chunk.toString('utf8')) as LogEntry);
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), entries };
}

function killmailIdOf(line: string): number {
  return (JSON.parse(line) as { killmail_id: number }).killmail_id;
}

function expectedSubject(line: string, prefix = 'kills'): string {
  const { solar_system_id: systemId } = JSON.parse(line) as { solar_system_id: number };
  return `${prefix}.${universe.regionOf(systemId) ?? 'unknown'}.${systemId}`;
}

function publishedAt(msg: Msg): number {
  return Number(msg.headers?.get(PUBLISHED_AT_HEADER));
}

describe('replayCorpus', () => {
  let server: NatsServer;
  let publisher: NatsConnection;
  let subscriber: NatsConnection;
  let dir: string;

  beforeAll(async () => {
    server = await NatsServer.start();
    publisher = await connect({ servers: server.url });
    subscriber = await connect({ servers: server.url });
    dir = await mkdtemp(join(tmpdir(), 'killfeed-replay-'));
  });

  afterAll(async () => {
    await publisher?.close();
    await subscriber?.close();
    await server?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /**
   * Subscribes to `subject` and returns the messages received so far. The
   * subscriber's flush returns after the server has sent everything that
   * the publisher's flush (inside replayCorpus) made it route.
   */
  async function subscribeAll(subject = 'kills.>'): Promise<{ messages: Msg[]; settle: () => Promise<Msg[]> }> {
    const messages: Msg[] = [];
    const subscription = subscriber.subscribe(subject, {
      callback: (err, msg) => {
        if (err === null) messages.push(msg);
      },
    });
    await subscriber.flush();

    return {
      messages,
      settle: async () => {
        await subscriber.flush();
        subscription.unsubscribe();
        return messages;
      },
    };
  }

  it('publishes the first 200 kills with subjects and headers', async () => {
    const { logger } = captureLogger();
    const received = await subscribeAll();
    const before = Date.now();

    const result = await replayCorpus({ nc: publisher, file: CORPUS_FILE, universe, rate: 20_000, limit: 200, logger });

    const after = Date.now();
    const messages = await received.settle();
    expect(result.published).toBe(200);
    expect(result.skipped).toBe(0);
    expect(messages).toHaveLength(200);

    for (const [i, msg] of messages.entries()) {
      const line = corpusLines[i]!;
      expect(msg.subject).toBe(expectedSubject(line));
      expect(msg.string()).toBe(line);
      expect(msg.headers?.get('Content-Type')).toBe('application/json');
      expect(msg.headers?.get(MESSAGE_ID_HEADER)).toBe(String(killmailIdOf(line)));
      expect(publishedAt(msg)).toBeGreaterThanOrEqual(before);
      expect(publishedAt(msg)).toBeLessThanOrEqual(after);
    }
  });

  it('publishes msgpack that decodes to the same killmail', async () => {
    const { logger } = captureLogger();
    const received = await subscribeAll();

    const result = await replayCorpus({ nc: publisher, file: CORPUS_FILE, universe, rate: 20_000, limit: 50, format: 'msgpack', logger });

    const messages = await received.settle();
    expect(result.published).toBe(50);
    expect(messages).toHaveLength(50);

    for (const [i, msg] of messages.entries()) {
      const line = corpusLines[i]!;
      const contentType = msg.headers?.get('Content-Type');
      expect(contentType).toBe('application/msgpack');
      expect(unpack(msg.data)).toEqual(JSON.parse(line));

      const decoded = decodeKill(msg.data, contentType, { universe, maxBytes: Number.POSITIVE_INFINITY });
      expect(decoded.ok).toBe(true);
      expect(decoded.ok && decoded.format).toBe('msgpack');
    }
  });

  it('keeps corpus order and gaps at a given speed', async () => {
    const { logger } = captureLogger();
    const lines = corpusLines.slice(0, 40);
    const file = join(dir, 'first-40.jsonl');
    await writeFile(file, `${lines.join('\n')}\n`);
    const speed = 1000;
    const received = await subscribeAll();

    const result = await replayCorpus({ nc: publisher, file, universe, speed, logger });

    const messages = await received.settle();
    expect(result.published).toBe(40);
    expect(messages.map((msg) => Number(msg.headers?.get(MESSAGE_ID_HEADER)))).toEqual(lines.map(killmailIdOf));

    // Pacing may publish up to 1 ms early and Date.now() rounds to whole ms,
    // so each gap is at least the scaled corpus gap minus 3 ms.
    const firstTime = Date.parse((JSON.parse(lines[0]!) as { killmail_time: string }).killmail_time);
    for (const [i, msg] of messages.entries()) {
      const corpusGapMs = Date.parse((JSON.parse(lines[i]!) as { killmail_time: string }).killmail_time) - firstTime;
      expect(publishedAt(msg) - publishedAt(messages[0]!)).toBeGreaterThanOrEqual(corpusGapMs / speed - 3);
    }
  });

  it('spaces kills evenly at a given rate', async () => {
    const { logger } = captureLogger();
    const rate = 500;
    const received = await subscribeAll();

    const result = await replayCorpus({ nc: publisher, file: CORPUS_FILE, universe, rate, limit: 30, logger });

    const messages = await received.settle();
    expect(result.published).toBe(30);
    for (const [i, msg] of messages.entries()) {
      expect(publishedAt(msg) - publishedAt(messages[0]!)).toBeGreaterThanOrEqual((i * 1000) / rate - 3);
    }
  });

  it('counts, logs and skips invalid lines', async () => {
    const { logger, entries } = captureLogger();
    const negativeId = { ...(JSON.parse(corpusLines[1]!) as object), killmail_id: -1 };
    const unknownSystem = { ...(JSON.parse(corpusLines[2]!) as object), solar_system_id: 39999999 };
    const lines = [corpusLines[0]!, '{"killmail_id": 1,', corpusLines[1]!, '', JSON.stringify(negativeId), JSON.stringify(unknownSystem)];
    const file = join(dir, 'with-bad-lines.jsonl.gz');
    await writeFile(file, gzipSync(`${lines.join('\n')}\n`));
    const received = await subscribeAll();

    const result = await replayCorpus({ nc: publisher, file, universe, rate: 10_000, logger });

    const messages = await received.settle();
    expect(result.published).toBe(3);
    expect(result.skipped).toBe(2);
    expect(messages.map((msg) => msg.subject)).toEqual([
      expectedSubject(corpusLines[0]!),
      expectedSubject(corpusLines[1]!),
      'kills.unknown.39999999',
    ]);

    const skips = entries.filter((entry) => entry.msg === 'replay line skipped');
    expect(skips.map((entry) => [entry.line, entry.reason])).toEqual([
      [2, 'invalid_json'],
      [5, 'invalid_killmail'],
    ]);
    expect(skips[1]?.message).toContain('killmail_id is -1');
  });

  it('logs only the first ten skipped lines', async () => {
    const { logger, entries } = captureLogger();
    const file = join(dir, 'many-bad-lines.jsonl');
    await writeFile(file, `${Array.from({ length: 25 }, (_, i) => `bad line ${i}`).join('\n')}\n${corpusLines[0]}\n`);

    const result = await replayCorpus({ nc: publisher, file, universe, rate: 10_000, logger });

    expect(result.skipped).toBe(25);
    expect(result.published).toBe(1);
    expect(entries.filter((entry) => entry.msg === 'replay line skipped')).toHaveLength(10);
    expect(entries.find((entry) => entry.msg === 'replay finished')).toMatchObject({ published: 1, skipped: 25 });
  });

  it('loops with distinct message ids until aborted', async () => {
    const { logger } = captureLogger();
    const lines = corpusLines.slice(0, 3);
    const file = join(dir, 'three.jsonl');
    await writeFile(file, `${lines.join('\n')}\n`);
    const controller = new AbortController();
    const received = await subscribeAll();

    const result = await replayCorpus({
      nc: publisher,
      file,
      universe,
      rate: 2_000,
      loop: true,
      signal: controller.signal,
      logger,
      onPublished: (published) => {
        if (published === 7) controller.abort();
      },
    });

    const messages = await received.settle();
    const [a, b, c] = lines.map(killmailIdOf);
    expect(result.published).toBe(7);
    expect(messages.map((msg) => msg.headers?.get(MESSAGE_ID_HEADER))).toEqual([
      `${a}`,
      `${b}`,
      `${c}`,
      `${a}-2`,
      `${b}-2`,
      `${c}-2`,
      `${a}-3`,
    ]);
  });

  it('stops a looping replay at the limit', async () => {
    const { logger } = captureLogger();
    const file = join(dir, 'three-for-limit.jsonl');
    await writeFile(file, `${corpusLines.slice(0, 3).join('\n')}\n`);

    const result = await replayCorpus({ nc: publisher, file, universe, rate: 5_000, loop: true, limit: 8, logger });

    expect(result.published).toBe(8);
  });

  it('stops looping over a file without valid kills', async () => {
    const { logger, entries } = captureLogger();
    const file = join(dir, 'all-bad.jsonl');
    await writeFile(file, 'not json\n');

    const result = await replayCorpus({ nc: publisher, file, universe, rate: 5_000, loop: true, logger });

    expect(result).toMatchObject({ published: 0, skipped: 1 });
    expect(entries.some((entry) => entry.msg === 'replay stopped looping because a pass published no kills')).toBe(true);
  });

  it('stops waiting for the next kill when aborted', async () => {
    const { logger } = captureLogger();
    const controller = new AbortController();

    // The corpus's second kill comes 33 s after the first; at speed 1 the
    // replay waits for it until the abort.
    const result = await replayCorpus({
      nc: publisher,
      file: CORPUS_FILE,
      universe,
      speed: 1,
      signal: controller.signal,
      logger,
      onPublished: () => controller.abort(),
    });

    expect(result.published).toBe(1);
  });

  it('uses a custom subject prefix', async () => {
    const { logger } = captureLogger();
    const received = await subscribeAll('replay.kills.>');

    await replayCorpus({ nc: publisher, file: CORPUS_FILE, universe, rate: 10_000, limit: 5, subjectPrefix: 'replay.kills', logger });

    const messages = await received.settle();
    expect(messages.map((msg) => msg.subject)).toEqual(corpusLines.slice(0, 5).map((line) => expectedSubject(line, 'replay.kills')));
  });

  it.each([
    ['speed and rate together', { speed: 2, rate: 10 }, 'cannot be combined'],
    ['a zero speed', { speed: 0 }, 'speed is 0'],
    ['an infinite rate', { rate: Number.POSITIVE_INFINITY }, 'rate is Infinity'],
    ['a fractional limit', { limit: 1.5 }, 'limit is 1.5'],
    ['a wildcard prefix', { subjectPrefix: 'kills.>' }, 'subjectPrefix is "kills.>"'],
    ['an empty prefix token', { subjectPrefix: 'kills..x' }, 'subjectPrefix is "kills..x"'],
  ])('rejects %s', async (_name, options, fragment) => {
    const { logger } = captureLogger();

    await expect(replayCorpus({ nc: publisher, file: CORPUS_FILE, universe, logger, ...options })).rejects.toThrow(fragment);
  });

  it('rejects a missing file', async () => {
    const { logger } = captureLogger();

    await expect(replayCorpus({ nc: publisher, file: join(dir, 'missing.jsonl'), universe, rate: 10, logger })).rejects.toThrow('ENOENT');
  });
});

describe('replayCorpus with JetStream', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let dir: string;

  beforeAll(async () => {
    server = await NatsServer.start({ jetstream: true });
    nc = await connect({ servers: server.url });
    dir = await mkdtemp(join(tmpdir(), 'killfeed-replay-js-'));
  });

  afterAll(async () => {
    await nc?.close();
    await server?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Stores a marker through JetStream and returns the stream's message count; the acknowledgement orders it after every earlier publish. */
  async function storedCount(stream: string, subject: string): Promise<number> {
    const ack = await jetstream(nc).publish(subject, 'marker');
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    expect(ack.seq).toBe(info.state.last_seq);
    return info.state.messages - 1;
  }

  it('lets JetStream drop a replay of the same kills', async () => {
    const { logger } = captureLogger();
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'KILLS_DEDUP', subjects: ['dedup.>'] });

    await replayCorpus({ nc, file: CORPUS_FILE, universe, rate: 10_000, limit: 20, subjectPrefix: 'dedup', logger });
    await replayCorpus({ nc, file: CORPUS_FILE, universe, rate: 10_000, limit: 20, subjectPrefix: 'dedup', logger });

    expect(await storedCount('KILLS_DEDUP', 'dedup.marker')).toBe(20);
  });

  it('stores every pass of a looping replay', async () => {
    const { logger } = captureLogger();
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'KILLS_LOOP', subjects: ['loop.>'] });
    const file = join(dir, 'ten.jsonl');
    await writeFile(file, `${corpusLines.slice(0, 10).join('\n')}\n`);

    await replayCorpus({ nc, file, universe, rate: 10_000, loop: true, limit: 30, subjectPrefix: 'loop', logger });

    expect(await storedCount('KILLS_LOOP', 'loop.marker')).toBe(30);
  });
});
