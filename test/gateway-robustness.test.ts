import { request } from 'node:http';
import { pack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedClient } from './support/feed-client.js';
import { KillPublisher, eventually, publishCorpusKills, loadCorpus, metricValue, startGateway, type TestGateway } from './support/gateway.js';
import { NatsServer } from './support/nats-server.js';

let nats: NatsServer;
let publisher: KillPublisher;
let corpus: Array<Record<string, unknown>>;

beforeAll(async () => {
  nats = await NatsServer.start();
  publisher = await KillPublisher.connect(nats.url);
  corpus = await loadCorpus(600);
});

afterAll(async () => {
  await publisher.close();
  await nats.dispose();
});

function publishKills(tg: TestGateway, count: number, offset = 0): Promise<void> {
  return publishCorpusKills(publisher, tg, corpus, count, offset);
}

describe('bad NATS input', () => {
  let tg: TestGateway;
  beforeAll(async () => {
    tg = await startGateway(nats.url, { maxEventBytes: 64 * 1024 });
  });
  afterAll(async () => {
    await tg.stop();
  });

  it('counts, logs and skips invalid messages, then delivers the next kill', async () => {
    const client = await FeedClient.connect(tg.feedUrl('channels=all:*'), { autoAck: true });
    await client.waitForOp('subscribed');
    const valid = corpus[0] as Record<string, unknown>;

    publisher.publishRaw('kills.1.1', 'not json at all {');
    publisher.publishRaw('kills.1.1', '{"killmail_id": ');
    publisher.publishRaw('kills.1.1', JSON.stringify({ ...valid, solar_system_id: 'Jita' }));
    publisher.publishRaw('kills.1.1', JSON.stringify({ ...valid, attackers: 'none' }));
    publisher.publishRaw('kills.1.1', Buffer.alloc(70 * 1024, 0x7b));
    publisher.publishRaw('kills.1.1', Buffer.from([0xc1, 0xff, 0x00]), 'application/msgpack');
    publisher.publishRaw('kills.1.1', 'x', 'text/plain');
    await publishKills(tg, 1);

    const batch = await client.waitForOp('batch');
    expect((batch.events as unknown[]).length).toBe(1);
    const metricsUrl = tg.httpUrl('/metrics');
    expect(await metricValue(metricsUrl, 'killfeed_events_rejected_total{reason="unknown_format"}')).toBe(1);
    expect(await metricValue(metricsUrl, 'killfeed_events_rejected_total{reason="invalid_json"}')).toBe(1);
    expect(await metricValue(metricsUrl, 'killfeed_events_rejected_total{reason="invalid_killmail"}')).toBe(2);
    expect(await metricValue(metricsUrl, 'killfeed_events_rejected_total{reason="too_large"}')).toBe(1);
    expect(await metricValue(metricsUrl, 'killfeed_events_rejected_total{reason="invalid_msgpack"}')).toBe(1);
    expect(await metricValue(metricsUrl, 'killfeed_events_rejected_total{reason="unsupported_content_type"}')).toBe(1);
    expect(await metricValue(metricsUrl, 'killfeed_events_received_total')).toBe(1);

    const rejections = tg.logs.filter((entry) => entry.msg === 'kill event rejected');
    expect(rejections.length).toBeGreaterThanOrEqual(1);
    expect(rejections.length).toBeLessThanOrEqual(6);
    expect(rejections[0]).toMatchObject({ subject: 'kills.1.1' });
    expect(typeof rejections[0]?.bytes).toBe('number');
    client.close();
  });

  it('accepts msgpack and R2Z2 packages', async () => {
    const client = await FeedClient.connect(tg.feedUrl('channels=all:*'), { autoAck: true });
    await client.waitForOp('subscribed');
    const esi = corpus[5] as Record<string, unknown>;
    const r2z2 = { killmail_id: esi.killmail_id, hash: 'abc123', esi, zkb: { totalValue: 123456.5, points: 1 }, sequence_id: 42, uploaded_at: 1638057600 };

    publisher.publishRaw('kills.1.1', pack(esi), 'application/msgpack');
    publisher.publishRaw('kills.1.1', JSON.stringify(r2z2));
    publisher.publishRaw('kills.1.1', pack(r2z2));
    await client.waitUntil(() => client.events().length >= 3, 10_000, 'three events');

    const [fromMsgpack, fromR2z2, fromPackedR2z2] = client.events();
    expect(fromMsgpack?.killmail).toEqual(esi);
    expect(fromR2z2?.killmail).toEqual(esi);
    expect(fromR2z2?.zkb).toEqual(r2z2.zkb);
    expect(fromPackedR2z2?.zkb).toEqual(r2z2.zkb);
    client.close();
  });
});

describe('bad client input', () => {
  let tg: TestGateway;
  beforeAll(async () => {
    tg = await startGateway(nats.url, { maxViolations: 100 });
  });
  afterAll(async () => {
    await tg.stop();
  });

  const cases: Array<{ name: string; frame: string | Buffer; binary?: boolean; code: string; mentions: string }> = [
    { name: 'invalid JSON', frame: '{"op":', code: 'invalid_json', mentions: '{"op":' },
    { name: 'non-object', frame: '[1,2]', code: 'invalid_message', mentions: '[1,2]' },
    { name: 'unknown op', frame: '{"op":"subscribe"}', code: 'unknown_op', mentions: 'subscribe' },
    { name: 'unknown channel type', frame: '{"op":"sub","channels":["planet:1"]}', code: 'unknown_channel', mentions: 'planet:1' },
    { name: 'malformed channel id', frame: '{"op":"sub","channels":["alliance:abc"]}', code: 'invalid_channel', mentions: 'alliance:abc' },
    { name: 'region absent from the map', frame: '{"op":"sub","channels":["region:1"]}', code: 'invalid_channel', mentions: 'region:1' },
    { name: 'channels not an array', frame: '{"op":"sub","channels":"all:*"}', code: 'invalid_message', mentions: 'all:*' },
    { name: 'unknown channel in unsub', frame: '{"op":"unsub","channels":["moon:5"]}', code: 'unknown_channel', mentions: 'moon:5' },
    { name: 'ack without seq', frame: '{"op":"ack"}', code: 'invalid_ack', mentions: 'seq' },
    { name: 'ack of an unsent batch', frame: '{"op":"ack","seq":99}', code: 'invalid_ack', mentions: '99' },
    { name: 'frame over 16 KiB', frame: JSON.stringify({ op: 'ping', pad: 'x'.repeat(17_000) }), code: 'frame_too_large', mentions: '16384' },
    { name: 'binary frame on a JSON connection', frame: Buffer.from([0x81, 0xa2, 0x6f, 0x70]), binary: true, code: 'invalid_message', mentions: 'msgpack' },
  ];

  for (const testCase of cases) {
    it(`answers ${testCase.name} with ${testCase.code}`, async () => {
      const client = await FeedClient.connect(tg.feedUrl());
      await client.waitForOp('welcome');

      client.sendRaw(testCase.frame, testCase.binary ?? false);
      const error = await client.waitForOp('error');
      expect(error.code).toBe(testCase.code);
      expect(String(error.message)).toContain(testCase.mentions);

      client.send({ op: 'ping' });
      await client.waitForOp('pong');
      expect(client.closeCode).toBeUndefined();
      client.close();
    });
  }

  it('rejects invalid msgpack on a msgpack connection', async () => {
    const client = await FeedClient.connect(tg.feedUrl('format=msgpack'));
    await client.waitForOp('welcome');

    client.sendRaw(Buffer.from([0x85, 0xa2, 0x6f]), true);
    const error = await client.waitForOp('error');
    expect(error.code).toBe('invalid_msgpack');
    client.sendRaw(pack({ op: 'ping' }), true);
    await client.waitForOp('pong');
    client.close();
  });

  it('reports unknown and invalid channels separately', async () => {
    const client = await FeedClient.connect(tg.feedUrl());
    await client.waitForOp('welcome');

    client.send({ op: 'sub', channels: ['planet:1', 'region:abc', 'alliance:7'] });
    const subscribed = await client.waitForOp('subscribed');
    const errors = client.messages.filter((m) => m.op === 'error');
    expect(errors.map((e) => e.code).sort()).toEqual(['invalid_channel', 'unknown_channel']);
    expect(String(errors.find((e) => e.code === 'unknown_channel')?.message)).toContain('planet:1');
    expect(String(errors.find((e) => e.code === 'invalid_channel')?.message)).toContain('region:abc');
    expect(subscribed.channels).toEqual(['alliance:7']);
    client.close();
  });

  it('answers a plain GET of the feed with 426', async () => {
    const response = await fetch(tg.httpUrl('/v1/feed'));
    expect(response.status).toBe(426);
    expect(((await response.json()) as Record<string, unknown>).error).toBe('upgrade_required');
  });

  it('answers POST on GET-only routes with 405', async () => {
    for (const path of ['/api/kill_feed', '/metrics', '/healthz', '/readyz']) {
      const response = await fetch(tg.httpUrl(path), { method: 'POST' });
      expect(response.status, path).toBe(405);
    }
  });

  it('rejects the 65th channel', async () => {
    const client = await FeedClient.connect(tg.feedUrl());
    await client.waitForOp('welcome');
    const channels = Array.from({ length: 65 }, (_, i) => `character:${1000 + i}`);

    client.send({ op: 'sub', channels });
    const error = await client.waitForOp('error');
    expect(error.code).toBe('too_many_channels');
    expect(String(error.message)).toContain('character:1064');
    expect(String(error.message)).toContain('64');
    const subscribed = await client.waitForOp('subscribed');
    expect((subscribed.channels as string[]).length).toBe(64);
    client.close();
  });

  it('reports the full channel set on sub and unsub', async () => {
    const client = await FeedClient.connect(tg.feedUrl('channels=alliance:1,region:10000002'));
    await client.waitForOp('subscribed');

    client.send({ op: 'sub', channels: ['ship:587', 'alliance:1'] });
    const subscribed = await client.waitFor((m) => m.op === 'subscribed' && (m.channels as string[]).includes('ship:587'));
    expect([...(subscribed.channels as string[])].sort()).toEqual(['alliance:1', 'region:10000002', 'ship:587']);
    client.send({ op: 'unsub', channels: ['alliance:1'] });
    const unsubscribed = await client.waitForOp('unsubscribed');
    expect([...(unsubscribed.channels as string[])].sort()).toEqual(['region:10000002', 'ship:587']);
    client.close();
  });

  it('rejects an invalid query with HTTP 400 naming the parameter', async () => {
    const response = await upgradeRequest(tg.port, '/v1/feed?format=xml');
    expect(response.status).toBe(400);
    const body = JSON.parse(response.body) as Record<string, unknown>;
    expect(body.parameter).toBe('format');
    expect(String(body.message)).toContain('xml');
  });
});

describe('repeated violations', () => {
  let tg: TestGateway;
  beforeAll(async () => {
    tg = await startGateway(nats.url, { maxViolations: 3 });
  });
  afterAll(async () => {
    await tg.stop();
  });

  it('closes with 4500 and leaves other clients served', async () => {
    const bystander = await FeedClient.connect(tg.feedUrl('channels=all:*'), { autoAck: true });
    const offender = await FeedClient.connect(tg.feedUrl());
    await bystander.waitForOp('subscribed');
    await offender.waitForOp('welcome');

    for (let i = 0; i < 3; i += 1) offender.sendRaw('garbage');
    expect(await offender.waitForClose()).toBe(4500);
    expect(offender.messages.filter((m) => m.op === 'error')).toHaveLength(3);

    await publishKills(tg, 3);
    await bystander.waitUntil(() => bystander.events().length >= 3);
    expect(await metricValue(tg.httpUrl('/metrics'), 'killfeed_connections_closed_total{reason="protocol_violation"}')).toBe(1);
    bystander.close();
  });
});

describe('slow consumers', () => {
  let tg: TestGateway;
  beforeAll(async () => {
    tg = await startGateway(nats.url, { slowConsumerTimeoutMs: 800, backpressureBytes: 64 * 1024 });
  });
  afterAll(async () => {
    await tg.stop();
  });

  it('bounds a never-reading client and keeps others fresh', async () => {
    const stalled = await FeedClient.connect(tg.feedUrl('channels=all:*'), { paused: true });
    const healthy = await FeedClient.connect(tg.feedUrl('channels=all:*'), { autoAck: true });
    await healthy.waitForOp('subscribed');
    await eventually(() => tg.gateway.hub.connectionCount === 2);
    const startId = tg.gateway.hub.latestId;

    for (let round = 0; round < 5; round += 1) await publishKills(tg, 100, round * 100);
    await healthy.waitUntil(() => {
      const dropped = healthy.batches().reduce((n, b) => n + (b.dropped as number), 0);
      return healthy.events().length + dropped >= 500;
    }, 10_000, 'healthy client accounted for 500 kills');

    const healthyIds = healthy.events().map((e) => e.id as number);
    expect(healthyIds.at(-1)).toBe(startId + 500);

    const metricsUrl = tg.httpUrl('/metrics');
    await eventually(async () => (await metricValue(metricsUrl, 'killfeed_connections_closed_total{reason="slow_consumer"}')) === 1, 10_000, 'slow consumer closed');
    expect(tg.gateway.hub.connectionCount).toBe(1);
    stalled.resume();
    expect(await stalled.waitForClose(10_000)).toBe(4000);
    healthy.close();
  });

  it('bounds a client that stops ACKing', async () => {
    const holder = await FeedClient.connect(tg.feedUrl('channels=all:*'));
    const id = (await holder.waitForOp('welcome')).connection_id as string;
    await holder.waitForOp('subscribed');

    await publishKills(tg, 300);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const connection = tg.gateway.hub.findConnection(id);
    expect(connection?.ring.size).toBeLessThanOrEqual(100);
    expect(connection?.inflightCount).toBeLessThanOrEqual(2);
    expect(holder.batches().length).toBeLessThanOrEqual(2);
    expect(await holder.waitForClose(10_000)).toBe(4000);
  });
});

/** Sends a raw WebSocket upgrade request and returns the HTTP status and body. */
function upgradeRequest(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('upgrade', () => reject(new Error('upgrade unexpectedly accepted')));
    req.on('error', reject);
    req.end();
  });
}
