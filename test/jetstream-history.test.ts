import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedClient } from './support/feed-client.js';
import { KillPublisher, eventually, loadCorpus, metricValue, startGateway, type TestGateway } from './support/gateway.js';
import { NatsServer } from './support/nats-server.js';

type Kill = Record<string, unknown>;

let nats: NatsServer;
let publisher: KillPublisher;
let corpus: Kill[];
let nextKill = 0;
let gatewayA: TestGateway;
let gatewayB: TestGateway;

/** Returns kills never published before in this file, so JetStream's duplicate window keeps them all. */
function freshKills(count: number): Kill[] {
  const kills = corpus.slice(nextKill, nextKill + count);
  nextKill += count;
  if (kills.length < count) throw new Error('corpus exhausted');
  return kills;
}

async function publishAndWait(kills: Kill[]): Promise<void> {
  for (const kill of kills) publisher.publish(kill);
  await publisher.flush();
  const jsm = await jetstreamManager(publisher.nc);
  const { last_seq: lastSeq } = (await jsm.streams.info('KILLS')).state;
  await eventually(() => [gatewayA, gatewayB].every((tg) => tg.gateway.hub.latestId >= lastSeq), 10_000, 'both replicas consumed the stream');
}

function killmailIds(events: Array<Record<string, unknown>>): number[] {
  return events.map((event) => (event.killmail as Kill).killmail_id as number);
}

beforeAll(async () => {
  nats = await NatsServer.start({ jetstream: true });
  corpus = await loadCorpus(1200);
  gatewayA = await startGateway(nats.url, { streamCreate: true, dedupeWindowS: 600 });
  // Replica B keeps only 50 events in memory and reads 30 stream messages per
  // request, so its history pages cross from memory into the stream.
  gatewayB = await startGateway(nats.url, { dedupeWindowS: 600, historyEvents: 50, historyScanLimit: 30 });
  publisher = await KillPublisher.connect(nats.url);
});

afterAll(async () => {
  await publisher.close();
  await gatewayA.stop();
  await gatewayB.stop();
  await nats.dispose();
});

describe('JetStream mode', () => {
  it('uses stream sequences as ids on every replica', async () => {
    expect(gatewayA.gateway.mode).toBe('jetstream');
    expect(gatewayB.gateway.mode).toBe('jetstream');
    const kills = freshKills(5);
    await publishAndWait(kills);

    const idsOf = (tg: TestGateway) => tg.gateway.memory.range(0, Number.MAX_SAFE_INTEGER, () => true).map((e) => [e.id, e.kill.killmailId]);
    expect(idsOf(gatewayA)).toEqual(idsOf(gatewayB));
  });

  it('resumes after missing 3 kills', async () => {
    const client = await FeedClient.connect(gatewayA.feedUrl('channels=all:*'), { autoAck: true });
    await client.waitForOp('subscribed');
    await publishAndWait(freshKills(2));
    await client.waitUntil(() => client.events().length >= 2);
    const lastSeen = client.events().at(-1)?.id as number;
    client.close();

    const missed = freshKills(3);
    await publishAndWait(missed);

    const again = await FeedClient.connect(gatewayA.feedUrl(`channels=all:*&since=${lastSeen}`), { autoAck: true });
    const resumed = await again.waitForOp('resumed');
    expect(resumed).toMatchObject({ since: lastSeen, replayed: 3, missed: 0 });
    await again.waitUntil(() => again.events().length >= 3);
    expect(killmailIds(again.events())).toEqual(missed.map((kill) => kill.killmail_id));

    const live = freshKills(2);
    await publishAndWait(live);
    await again.waitUntil(() => again.events().length >= 5);
    expect(killmailIds(again.events())).toEqual([...missed, ...live].map((kill) => kill.killmail_id));
    again.close();
  });

  it('resumes from the welcome id when nothing was received', async () => {
    const client = await FeedClient.connect(gatewayA.feedUrl('channels=all:*'));
    const welcome = await client.waitForOp('welcome');
    const latestAtConnect = welcome.latest_id as number;
    client.close();

    const missed = freshKills(4);
    await publishAndWait(missed);

    const again = await FeedClient.connect(gatewayA.feedUrl('channels=all:*'), { autoAck: true });
    await again.waitForOp('subscribed');
    again.send({ op: 'resume', since: latestAtConnect });
    await again.waitForOp('resumed');
    await again.waitUntil(() => again.events().length >= 4);
    expect(killmailIds(again.events())).toEqual(missed.map((kill) => kill.killmail_id));
    again.close();
  });

  it('repeats nothing across reconnects without traffic', async () => {
    await publishAndWait(freshKills(2));
    const first = await FeedClient.connect(gatewayA.feedUrl('channels=all:*'));
    const since = (await first.waitForOp('welcome')).latest_id as number;
    first.close();

    for (let attempt = 0; attempt < 2; attempt += 1) {
      const client = await FeedClient.connect(gatewayA.feedUrl(`channels=all:*&since=${since}`), { autoAck: true });
      const resumed = await client.waitForOp('resumed');
      expect(resumed.replayed).toBe(0);
      client.send({ op: 'ping' });
      await client.waitForOp('pong');
      expect(client.batches()).toHaveLength(0);
      client.close();
    }
  });

  it('resumes on a second replica sharing the stream', async () => {
    const onA = await FeedClient.connect(gatewayA.feedUrl('channels=all:*'), { autoAck: true });
    await onA.waitForOp('subscribed');
    const seen = freshKills(3);
    await publishAndWait(seen);
    await onA.waitUntil(() => onA.events().length >= 3);
    const lastSeen = onA.events().at(-1)?.id as number;
    onA.close();

    const missed = freshKills(3);
    await publishAndWait(missed);
    const onB = await FeedClient.connect(gatewayB.feedUrl(`channels=all:*&since=${lastSeen}`), { autoAck: true });
    await onB.waitForOp('resumed');
    const live = freshKills(2);
    await publishAndWait(live);
    await onB.waitUntil(() => onB.events().length >= 5);

    expect(killmailIds(onB.events())).toEqual([...missed, ...live].map((kill) => kill.killmail_id));
    const ids = onB.events().map((event) => event.id as number);
    expect(ids[0]).toBeGreaterThan(lastSeen);
    expect(new Set(ids).size).toBe(ids.length);
    onB.close();
  });

  it('gives the newest 100 and a counted gap when more matched', async () => {
    const client = await FeedClient.connect(gatewayA.feedUrl('channels=all:*'));
    const since = (await client.waitForOp('welcome')).latest_id as number;
    client.close();

    const missed = freshKills(130);
    await publishAndWait(missed);
    const again = await FeedClient.connect(gatewayA.feedUrl(`channels=all:*&since=${since}`), { autoAck: true });
    const batch = await again.waitForOp('batch');

    const events = batch.events as Array<Record<string, unknown>>;
    expect(events).toHaveLength(100);
    expect(batch.dropped).toBe(30);
    expect(killmailIds(events)).toEqual(missed.slice(30).map((kill) => kill.killmail_id));
    const gap = batch.gap as { after_id: number; before_id: number; exact: boolean };
    expect(gap).toEqual({ after_id: since, before_id: events[0]?.id, exact: true });

    // Paging the gap over HTTP returns exactly the 30 missed kills.
    const paged: Array<Record<string, unknown>> = [];
    let before: number | null = gap.before_id;
    while (before !== null) {
      const page = (await (await fetch(gatewayA.httpUrl(`/api/kill_feed?before_id=${before}&limit=20`))).json()) as { events: Array<Record<string, unknown>>; next_before_id: number | null };
      const inGap = page.events.filter((event) => (event.id as number) > gap.after_id);
      paged.push(...inGap);
      before = inGap.length < page.events.length ? null : page.next_before_id;
    }
    expect(killmailIds(paged.reverse())).toEqual(missed.slice(0, 30).map((kill) => kill.killmail_id));
    again.close();
  });

  it('pages every retained event once while kills keep arriving', async () => {
    await publishAndWait(freshKills(40));
    const seen: number[] = [];
    let before: number | null = null;
    let pages = 0;

    do {
      const query: string = before === null ? 'limit=37&detail=summary' : `before_id=${before}&limit=37&detail=summary`;
      const page = (await (await fetch(gatewayB.httpUrl(`/api/kill_feed?${query}`))).json()) as { events: Array<Record<string, unknown>>; next_before_id: number | null };
      seen.push(...page.events.map((event) => event.id as number));
      before = page.next_before_id;
      pages += 1;
      if (pages % 2 === 0) await publishAndWait(freshKills(3));
    } while (before !== null && pages < 200);

    expect(before).toBeNull();
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...seen].sort((a, b) => b - a));
    expect(seen.at(-1)).toBe(1);
    // Every stored id from the first page's newest down to the first appears once.
    const jsm = await jetstreamManager(publisher.nc);
    const info = await jsm.streams.info('KILLS');
    expect(seen.length).toBe((seen[0] as number) - info.state.first_seq + 1);
  });

  it('filters history pages by channel and rejects bad parameters', async () => {
    const kills = freshKills(20);
    await publishAndWait(kills);
    const system = (kills[0] as Kill).solar_system_id as number;

    const page = (await (await fetch(gatewayA.httpUrl(`/api/kill_feed?channel=system:${system}&limit=200`))).json()) as { events: Array<Record<string, unknown>> };
    expect(page.events.length).toBeGreaterThan(0);
    expect(page.events.every((event) => (event.killmail as Kill).solar_system_id === system)).toBe(true);

    for (const [query, parameter] of [
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['before_id=abc', 'before_id'],
      ['channel=planet:1', 'channel'],
      ['detail=huge', 'detail'],
      ['colour=red', 'colour'],
      ['limit=5&limit=6', 'limit'],
    ] as const) {
      const response = await fetch(gatewayA.httpUrl(`/api/kill_feed?${query}`));
      expect(response.status, query).toBe(400);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body.parameter, query).toBe(parameter);
    }
  });
});

describe('deduplication', () => {
  it('delivers a killmail published twice once', async () => {
    const server = await NatsServer.start({ jetstream: true });
    const tg = await startGateway(server.url, { streamCreate: true, dedupeWindowS: 600 });
    const local = await KillPublisher.connect(server.url);
    const client = await FeedClient.connect(tg.feedUrl('channels=all:*'), { autoAck: true });
    await client.waitForOp('subscribed');
    const [kill, marker] = corpus.slice(0, 2) as [Kill, Kill];

    local.publish(kill);
    local.publish(kill);
    // The same kill without Nats-Msg-Id passes the stream but not the gateway's own window.
    local.publishRaw(`kills.1.${kill.solar_system_id as number}`, JSON.stringify(kill), 'application/json');
    local.publish(marker);
    await local.flush();
    await client.waitUntil(() => killmailIds(client.events()).includes(marker.killmail_id as number));

    expect(killmailIds(client.events()).filter((id) => id === kill.killmail_id)).toHaveLength(1);
    expect(await metricValue(tg.httpUrl('/metrics'), 'killfeed_events_duplicate_total')).toBe(1);
    const jsm = await jetstreamManager(local.nc);
    expect((await jsm.streams.info('KILLS')).state.messages).toBe(3);

    client.close();
    await local.close();
    await tg.stop();
    await server.dispose();
  });
});

describe('truncated history', () => {
  it('reports history_truncated with the oldest id and continues from there', async () => {
    const server = await NatsServer.start({ jetstream: true });
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'KILLS', subjects: ['kills.>'], max_msgs: 10 });
    const tg = await startGateway(server.url);
    const local = await KillPublisher.connect(server.url);

    const kills = corpus.slice(0, 25);
    for (const kill of kills) local.publish(kill);
    await local.flush();
    await eventually(() => tg.gateway.hub.latestId >= 25);

    const client = await FeedClient.connect(tg.feedUrl('channels=all:*&since=3'), { autoAck: true });
    const notice = await client.waitFor((m) => m.op === 'error' && m.code === 'history_truncated');
    expect(notice.oldest_id).toBe(16);
    await client.waitUntil(() => client.events().length >= 10);
    expect(client.events().map((event) => event.id)).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    expect(client.closeCode).toBeUndefined();

    client.close();
    await local.close();
    await nc.drain();
    await tg.stop();
    await server.dispose();
  });
});

describe('core NATS mode', () => {
  it('resumes from memory with gateway-local ids', async () => {
    const server = await NatsServer.start();
    const tg = await startGateway(server.url);
    const local = await KillPublisher.connect(server.url);
    expect(tg.gateway.mode).toBe('core');

    for (const kill of corpus.slice(0, 5)) local.publish(kill);
    await local.flush();
    await eventually(() => tg.gateway.hub.latestId >= 5);
    const client = await FeedClient.connect(tg.feedUrl('channels=all:*&since=2'), { autoAck: true });
    await client.waitUntil(() => client.events().length >= 3);
    expect(client.events().map((event) => event.id)).toEqual([3, 4, 5]);

    const page = (await (await fetch(tg.httpUrl('/api/kill_feed?limit=2'))).json()) as { events: Array<Record<string, unknown>>; next_before_id: number | null };
    expect(page.events.map((event) => event.id)).toEqual([5, 4]);
    expect(page.next_before_id).toBe(4);

    client.close();
    await local.close();
    await tg.stop();
    await server.dispose();
  });
});

describe('resume ahead of the gateway', () => {
  it('answers resume_ahead and continues live in core mode', async () => {
    const server = await NatsServer.start();
    const tg = await startGateway(server.url);
    const local = await KillPublisher.connect(server.url);

    const client = await FeedClient.connect(tg.feedUrl('channels=all:*&since=50'), { autoAck: true });
    const notice = await client.waitFor((m) => m.op === 'error' && m.code === 'resume_ahead');
    expect(notice.latest_id).toBe(0);
    const resumed = await client.waitForOp('resumed');
    expect(resumed.since).toBe(50);
    expect(resumed.from_id).toBe(0);

    for (const kill of corpus.slice(0, 3)) local.publish(kill);
    await local.flush();
    await client.waitUntil(() => client.events().length >= 3);
    expect(client.events().map((event) => event.id)).toEqual([1, 2, 3]);

    client.close();
    await local.close();
    await tg.stop();
    await server.dispose();
  });
});
