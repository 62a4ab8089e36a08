import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedClient } from './support/feed-client.js';
import { KillPublisher, eventually, loadCorpus, metricValue, startGateway, type TestGateway } from './support/gateway.js';
import { NatsServer } from './support/nats-server.js';

let corpus: Array<Record<string, unknown>>;

beforeAll(async () => {
  corpus = await loadCorpus(50);
});

describe('metrics endpoint', () => {
  let nats: NatsServer;
  let tg: TestGateway;
  beforeAll(async () => {
    nats = await NatsServer.start();
    tg = await startGateway(nats.url);
  });
  afterAll(async () => {
    await tg.stop();
    await nats.dispose();
  });

  it('exports the service metrics with units and bounded labels', async () => {
    const publisher = await KillPublisher.connect(nats.url);
    const client = await FeedClient.connect(tg.feedUrl('channels=all:*'), { autoAck: true });
    await client.waitForOp('subscribed');
    publisher.publish(corpus[0] as Record<string, unknown>);
    await client.waitForOp('batch');
    await eventually(async () => ((await metricValue(tg.httpUrl('/metrics'), 'killfeed_ack_latency_seconds_count')) ?? 0) >= 1, 10_000, 'an ACK latency sample');

    const response = await fetch(tg.httpUrl('/metrics'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const body = await response.text();

    for (const name of [
      'killfeed_connections',
      'killfeed_events_received_total',
      'killfeed_events_rejected_total',
      'killfeed_events_delivered_total',
      'killfeed_events_dropped_total',
      'killfeed_batches_sent_total',
      'killfeed_batch_size_events_bucket',
      'killfeed_ack_latency_seconds_bucket',
      'killfeed_flush_interval_seconds_bucket',
      'killfeed_event_loop_lag_seconds',
      'killfeed_nats_connected',
      'killfeed_process_resident_memory_bytes',
    ]) {
      expect(body, name).toMatch(new RegExp(`^${name}[ {]`, 'm'));
    }

    const names = new Set(body.split('\n').filter((line) => line.startsWith('# TYPE')).map((line) => line.split(' ')[2] as string));
    for (const name of names) expect(name.startsWith('killfeed_'), name).toBe(true);

    const labelNames = new Set<string>();
    for (const match of body.matchAll(/[{,]([a-z_]+)="/g)) labelNames.add(match[1] as string);
    expect([...labelNames].every((label) => ['reason', 'code', 'cause', 'le', 'kind', 'type', 'version', 'major', 'minor', 'patch', 'space'].includes(label)), [...labelNames].join(',')).toBe(true);

    client.close();
    await publisher.close();
  });

  it('answers /healthz and 404 for unknown paths', async () => {
    expect((await fetch(tg.httpUrl('/healthz'))).status).toBe(200);
    const missing = await fetch(tg.httpUrl('/nope'));
    expect(missing.status).toBe(404);
  });
});

describe('readiness', () => {
  it('flips to 503 while NATS is down and back when it returns', async () => {
    const nats = await NatsServer.start();
    const tg = await startGateway(nats.url);
    const readyz = async () => fetch(tg.httpUrl('/readyz'));

    expect((await readyz()).status).toBe(200);

    await nats.stop();
    await eventually(async () => (await readyz()).status === 503, 15_000, 'not ready');
    const body = (await (await readyz()).json()) as Record<string, unknown>;
    expect(body.reason).toMatch(/NATS/);
    expect(tg.logs.some((entry) => entry.msg === 'nats disconnected')).toBe(true);

    await nats.start();
    await eventually(async () => (await readyz()).status === 200, 20_000, 'ready again');
    expect(tg.logs.some((entry) => entry.msg === 'nats connected')).toBe(true);

    // Delivery resumes on the same subscription after the reconnect.
    const client = await FeedClient.connect(tg.feedUrl('channels=all:*'), { autoAck: true });
    await client.waitForOp('subscribed');
    const publisher = await KillPublisher.connect(nats.url);
    publisher.publish(corpus[1] as Record<string, unknown>);
    await client.waitForOp('batch');

    client.close();
    await publisher.close();
    await tg.stop();
    await nats.dispose();
  }, 60_000);
});

describe('graceful shutdown', () => {
  it('flushes pending events, closes clients with 1001 and refuses new ones', async () => {
    const nats = await NatsServer.start();
    const tg = await startGateway(nats.url, { intervalStartMs: 1000, intervalMinMs: 1000, intervalMaxMs: 1000 });
    const publisher = await KillPublisher.connect(nats.url);
    const client = await FeedClient.connect(tg.feedUrl('channels=all:*'));
    await client.waitForOp('subscribed');

    // With a 1 s interval the first batch goes out at once, the next ones wait.
    publisher.publish(corpus[2] as Record<string, unknown>);
    await client.waitForOp('batch');
    for (let i = 3; i < 8; i += 1) publisher.publish(corpus[i] as Record<string, unknown>);
    await publisher.flush();
    await eventually(() => tg.gateway.hub.latestId === 6);

    const shutdown = tg.stop();
    expect((await fetch(tg.httpUrl('/readyz')).catch(() => undefined))?.status ?? 503).toBe(503);
    await shutdown;

    expect(await client.waitForClose()).toBe(1001);
    expect(client.events().length).toBe(6);
    expect(tg.logs.map((entry) => entry.msg)).toEqual(expect.arrayContaining(['shutdown started', 'shutdown complete']));
    await expect(FeedClient.connect(tg.feedUrl())).rejects.toThrow();

    await tg.stop();
    await publisher.close();
    await nats.dispose();
  });
});
