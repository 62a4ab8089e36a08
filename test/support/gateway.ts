import { createGunzip } from 'node:zlib';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { pino, type Logger } from 'pino';
import { defaultConfig, type ConfigKey } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { Universe } from '../../src/universe.js';

export const CORPUS_PATH = fileURLToPath(new URL('../../data/killmails/2021-11-28T00-03.jsonl.gz', import.meta.url));

let universe: Universe | undefined;
export function sharedUniverse(): Universe {
  universe ??= Universe.load();
  return universe;
}

export interface TestGateway {
  gateway: Gateway;
  port: number;
  feedUrl: (query?: string) => string;
  httpUrl: (path: string) => string;
  logs: Array<Record<string, unknown>>;
  stop: () => Promise<void>;
}

/** Starts an in-process gateway on a free loopback port against `natsUrl`, logging into memory. */
export async function startGateway(natsUrl: string, overrides: Partial<Record<ConfigKey, unknown>> = {}): Promise<TestGateway> {
  const logs: Array<Record<string, unknown>> = [];
  const logger: Logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  // Tests republish the same corpus kills, so deduplication is off unless a test turns it on.
  const config = defaultConfig({ host: '127.0.0.1', port: 0, natsUrl, shutdownTimeoutMs: 3000, dedupeWindowS: 0, ...overrides });
  const gateway = new Gateway({ config, logger, universe: sharedUniverse() });
  const port = await gateway.start();

  return {
    gateway,
    port,
    logs,
    feedUrl: (query = '') => `ws://127.0.0.1:${port}/v1/feed${query === '' ? '' : `?${query}`}`,
    httpUrl: (path) => `http://127.0.0.1:${port}${path}`,
    stop: () => gateway.shutdown('test'),
  };
}

/** Reads the shipped corpus: the first `limit` killmails, parsed. */
export async function loadCorpus(limit = Infinity): Promise<Array<Record<string, unknown>>> {
  const lines = createInterface({ input: createReadStream(CORPUS_PATH).pipe(createGunzip()), crlfDelay: Infinity });
  const kills: Array<Record<string, unknown>> = [];
  for await (const line of lines) {
    if (line.trim() === '') continue;
    kills.push(JSON.parse(line) as Record<string, unknown>);
    if (kills.length >= limit) break;
  }
  lines.close();
  return kills;
}

/** A NATS publisher of killmails on kills.<region>.<system>. */
export class KillPublisher {
  private constructor(readonly nc: NatsConnection) {}

  static async connect(natsUrl: string): Promise<KillPublisher> {
    return new KillPublisher(await connect({ servers: natsUrl, name: 'test-publisher' }));
  }

  publish(killmail: Record<string, unknown>): void {
    const system = killmail.solar_system_id as number;
    const region = sharedUniverse().regionOf(system) ?? 'unknown';
    const h = headers();
    h.set('Content-Type', 'application/json');
    h.set('Nats-Msg-Id', String(killmail.killmail_id));
    this.nc.publish(`kills.${region}.${system}`, JSON.stringify(killmail), { headers: h });
  }

  publishRaw(subject: string, data: Uint8Array | string, contentType?: string): void {
    const h = headers();
    if (contentType) h.set('Content-Type', contentType);
    this.nc.publish(subject, data, contentType ? { headers: h } : {});
  }

  async flush(): Promise<void> {
    await this.nc.flush();
  }

  async close(): Promise<void> {
    await this.nc.drain();
  }
}

/** Polls `condition` every 20 ms until it is true or the timeout passes. */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Fetches /metrics and returns the value of one sample line, e.g. `killfeed_events_received_total`. */
export async function metricValue(url: string, sample: string): Promise<number | undefined> {
  const body = await (await fetch(url)).text();
  for (const line of body.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

/**
 * Publishes `count` kills of `corpus`, starting at `offset` and wrapping
 * around, and waits until the gateway has accepted them all.
 */
export async function publishCorpusKills(publisher: KillPublisher, tg: TestGateway, corpus: ReadonlyArray<Record<string, unknown>>, count: number, offset = 0): Promise<void> {
  const before = tg.gateway.hub.latestId;
  for (let i = 0; i < count; i += 1) publisher.publish(corpus[(offset + i) % corpus.length] as Record<string, unknown>);
  await publisher.flush();
  await eventually(() => tg.gateway.hub.latestId >= before + count, 10_000, `${count} kills accepted`);
}
