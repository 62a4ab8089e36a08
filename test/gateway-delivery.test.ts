import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedClient } from './support/feed-client.js';
import { KillPublisher, eventually, publishCorpusKills, loadCorpus, startGateway, type TestGateway } from './support/gateway.js';
import { NatsServer } from './support/nats-server.js';

let nats: NatsServer;
let publisher: KillPublisher;
let corpus: Array<Record<string, unknown>>;

beforeAll(async () => {
  nats = await NatsServer.start();
  publisher = await KillPublisher.connect(nats.url);
  corpus = await loadCorpus(400);
});

afterAll(async () => {
  await publisher.close();
  await nats.dispose();
});

function publishKills(tg: TestGateway, count: number, offset = 0): Promise<void> {
  return publishCorpusKills(publisher, tg, corpus, count, offset);
}

describe('batched delivery', () => {
  let tg: TestGateway;
  beforeAll(async () => {
    tg = await startGateway(nats.url);
  });
  afterAll(async () => {
    await tg.stop();
  });

  it('sends welcome first with limits and latest id', async () => {
    const client = await FeedClient.connect(tg.feedUrl('channels=all:*'));
    const welcome = await client.waitForOp('welcome');

    expect(client.messages[0]?.op).toBe('welcome');
    expect(welcome.version).toBe(1);
    expect(typeof welcome.connection_id).toBe('string');
    expect(welcome.interval_ms).toEqual({ min: 20, max: 1000, current: 100 });
    expect(welcome.ring_capacity).toBe(100);
    expect(welcome.heartbeat_ms).toBe(15_000);
    expect(welcome.latest_id).toBe(tg.gateway.hub.latestId);
    const subscribed = await client.waitForOp('subscribed');
    expect(subscribed.channels).toEqual(['all:*']);
    client.close();
  });

  it('delivers kills in id order with seq and dropped', async () => {
    const client = await FeedClient.connect(tg.feedUrl('channels=all:*'), { autoAck: true });
    await client.waitForOp('subscribed');

    await publishKills(tg, 30);
    await client.waitUntil(() => client.events().length >= 30, 10_000, '30 events');

    const batches = client.batches();
    expect(batches.map((b) => b.seq)).toEqual(batches.map((_, i) => i + 1));
    expect(batches.every((b) => b.dropped === 0)).toBe(true);
    const ids = client.events().map((e) => e.id as number);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(30);
    const first = client.events()[0] as Record<string, unknown>;
    expect(first.killmail).toEqual(corpus[0]);
    expect(typeof first.received_at).toBe('number');
    client.close();
  });

  it('sends summary detail with location and groups', async () => {
    const client = await FeedClient.connect(tg.feedUrl('channels=all:*&detail=summary'), { autoAck: true });
    await client.waitForOp('subscribed');

    await publishKills(tg, 1, 50);
    const batch = await client.waitForOp('batch');
    const event = (batch.events as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
    const source = corpus[50] as Record<string, unknown>;

    expect(event.killmail).toBeUndefined();
    expect(event.killmail_id).toBe(source.killmail_id);
    expect(event.solar_system_id).toBe(source.solar_system_id);
    expect(typeof event.region_id).toBe('number');
    expect(typeof event.constellation_id).toBe('number');
    expect((event.victim as Record<string, unknown>).ship_type_id).toBe((source.victim as Record<string, unknown>).ship_type_id);
    expect(event.attacker_count).toBe((source.attackers as unknown[]).length);
    client.close();
  });

  it('encodes msgpack batches as binary frames', async () => {
    const client = await FeedClient.connect(tg.feedUrl('format=msgpack&channels=all:*'));
    await client.waitForOp('subscribed');

    await publishKills(tg, 3, 60);
    const batch = await client.waitForOp('batch');
    client.sendRaw(Buffer.from(JSON.stringify({ op: 'ack', seq: batch.seq })));
    const events = batch.events as Array<Record<string, unknown>>;
    expect(events.length).toBeGreaterThan(0);
    expect((events[0] as Record<string, unknown>).killmail).toEqual(corpus[60]);
    client.close();
  });

  it('keeps the newest 100 for a client holding its ACKs', async () => {
    const client = await FeedClient.connect(tg.feedUrl('channels=all:*'));
    await client.waitForOp('subscribed');
    const firstId = tg.gateway.hub.latestId + 1;

    await publishKills(tg, 250);
    // The gateway has accepted all 250; anything it could still send is capped by the window of 2.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = client.batches();
    expect(before.length).toBeLessThanOrEqual(2);

    client.send({ op: 'ack', seq: before.at(-1)?.seq ?? 0 });
    await client.waitUntil(() => client.events().length + client.batches().reduce((n, b) => n + (b.dropped as number), 0) >= 250, 10_000, 'all 250 accounted for');

    const batches = client.batches();
    const last = batches.at(-1) as Record<string, unknown>;
    const lastEvents = last.events as Array<Record<string, unknown>>;
    expect(lastEvents.length).toBeLessThanOrEqual(100);
    expect(lastEvents.at(-1)?.id).toBe(firstId + 249);
    const ids = client.events().map((e) => e.id as number);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const dropped = batches.reduce((n, b) => n + (b.dropped as number), 0);
    expect(ids.length + dropped).toBe(250);
    expect(dropped).toBeGreaterThanOrEqual(150 - 100);
    client.close();
  });

  it('lowers the interval for a client that ACKs late', async () => {
    const slow = await FeedClient.connect(tg.feedUrl('channels=all:*'));
    const fast = await FeedClient.connect(tg.feedUrl('channels=all:*'), { autoAck: true });
    const slowId = (await slow.waitForOp('welcome')).connection_id as string;
    const fastId = (await fast.waitForOp('welcome')).connection_id as string;
    slow.ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as Record<string, unknown>;
      if (message.op === 'batch') setTimeout(() => slow.send({ op: 'ack', seq: message.seq }), 200);
    });

    for (let round = 0; round < 12; round += 1) {
      await publishKills(tg, 2, 100 + round * 2);
      await new Promise((resolve) => setTimeout(resolve, 120));
    }
    await eventually(() => slow.batches().length >= 5 && fast.batches().length >= 5, 10_000, 'five batches each');

    const slowInterval = tg.gateway.hub.findConnection(slowId)?.interval.intervalMs as number;
    const fastInterval = tg.gateway.hub.findConnection(fastId)?.interval.intervalMs as number;
    expect(slowInterval).toBeLessThan(100);
    expect(fastInterval).toBeGreaterThan(100);
    expect(slowInterval).toBeGreaterThanOrEqual(20);
    slow.close();
    fast.close();
  });

  it('delivers once across overlapping channels', async () => {
    const kill = corpus[120] as Record<string, unknown>;
    const system = kill.solar_system_id as number;
    const region = tg.gateway.universe.regionOf(system) as number;
    const victim = kill.victim as Record<string, number>;
    const channels = ['all:*', `system:${system}`, `region:${region}`, `ship:${victim.ship_type_id}`].join(',');
    const client = await FeedClient.connect(tg.feedUrl(`channels=${channels}`), { autoAck: true });
    await client.waitForOp('subscribed');

    await publishKills(tg, 1, 120);
    await client.waitUntil(() => client.events().length >= 1);
    await publishKills(tg, 1, 121);
    await client.waitUntil(() => client.events().length >= 2);

    const ids = client.events().map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(client.events().filter((e) => (e.killmail as Record<string, unknown>).killmail_id === kill.killmail_id)).toHaveLength(1);
    client.close();
  });
});

describe('heartbeats', () => {
  let tg: TestGateway;
  beforeAll(async () => {
    tg = await startGateway(nats.url, { heartbeatMs: 200 });
  });
  afterAll(async () => {
    await tg.stop();
  });

  it('sends a heartbeat with the latest id to a quiet connection', async () => {
    const client = await FeedClient.connect(tg.feedUrl('channels=alliance:1'));
    const welcome = await client.waitForOp('welcome');
    expect(welcome.heartbeat_ms).toBe(200);

    await publishKills(tg, 2);
    const heartbeat = await client.waitFor((m) => m.op === 'heartbeat' && m.latest_id === tg.gateway.hub.latestId, 5000);
    expect(heartbeat.latest_id).toBe(2);
    client.close();
  });
});
