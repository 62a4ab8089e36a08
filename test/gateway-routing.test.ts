import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedClient } from './support/feed-client.js';
import { KillPublisher, eventually, loadCorpus, startGateway, type TestGateway } from './support/gateway.js';
import { NatsServer } from './support/nats-server.js';

type Party = Record<string, number | undefined>;
type Killmail = { killmail_id: number; solar_system_id: number; victim: Party; attackers: Party[] };

const KILL_COUNT = 300;

/** The universe map read straight from the shipped file, independently of src/universe.ts. */
const rawMap = JSON.parse(gunzipSync(readFileSync(fileURLToPath(new URL('../data/eve-universe.json.gz', import.meta.url)))).toString('utf8')) as {
  systems: Record<string, [number, number]>;
  types: Record<string, number>;
};

/** Returns the kills of `kills` that `channel` should match, by walking the raw JSON. */
function expectedIds(kills: Killmail[], channel: string): number[] {
  const [type, rawId] = channel.split(':') as [string, string];
  const id = Number(rawId);
  const parties = (kill: Killmail) => [kill.victim, ...kill.attackers];

  const matches = (kill: Killmail): boolean => {
    switch (type) {
      case 'all':
        return true;
      case 'character':
      case 'corporation':
      case 'alliance':
      case 'faction':
        return parties(kill).some((party) => party[`${type}_id`] === id);
      case 'ship':
        return parties(kill).some((party) => party.ship_type_id === id);
      case 'group':
        return parties(kill).some((party) => party.ship_type_id !== undefined && rawMap.types[String(party.ship_type_id)] === id);
      case 'system':
        return kill.solar_system_id === id;
      case 'constellation':
        return rawMap.systems[String(kill.solar_system_id)]?.[0] === id;
      case 'region':
        return rawMap.systems[String(kill.solar_system_id)]?.[1] === id;
      default:
        throw new Error(`no expectation for ${channel}`);
    }
  };
  return kills.filter(matches).map((kill) => kill.killmail_id);
}

/** Picks, for a field, the value that occurs in the most kills (so the channel has several matches and several misses). */
function busiest(kills: Killmail[], valuesOf: (kill: Killmail) => Array<number | undefined>): number {
  const counts = new Map<number, number>();
  for (const kill of kills) {
    for (const value of new Set(valuesOf(kill))) if (value !== undefined) counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  const sorted = [...counts.entries()].filter(([, n]) => n < kills.length).sort((a, b) => b[1] - a[1]);
  return (sorted[0] as [number, number])[0];
}

let nats: NatsServer;
let tg: TestGateway;
let publisher: KillPublisher;
let kills: Killmail[];

beforeAll(async () => {
  nats = await NatsServer.start();
  tg = await startGateway(nats.url);
  publisher = await KillPublisher.connect(nats.url);
  kills = (await loadCorpus(KILL_COUNT)) as unknown as Killmail[];
});

afterAll(async () => {
  await publisher.close();
  await tg.stop();
  await nats.dispose();
});

describe('channel routing on real killmails', () => {
  it('delivers exactly the matching kills for every channel type', async () => {
    const parties = (kill: Killmail) => [kill.victim, ...kill.attackers];
    const channels = [
      'all:*',
      `character:${busiest(kills, (k) => parties(k).map((p) => p.character_id))}`,
      `corporation:${busiest(kills, (k) => parties(k).map((p) => p.corporation_id))}`,
      `alliance:${busiest(kills, (k) => parties(k).map((p) => p.alliance_id))}`,
      `faction:${busiest(kills, (k) => parties(k).map((p) => p.faction_id))}`,
      `ship:${busiest(kills, (k) => parties(k).map((p) => p.ship_type_id))}`,
      `group:${busiest(kills, (k) => parties(k).map((p) => (p.ship_type_id === undefined ? undefined : rawMap.types[String(p.ship_type_id)])))}`,
      `system:${busiest(kills, (k) => [k.solar_system_id])}`,
      `constellation:${busiest(kills, (k) => [rawMap.systems[String(k.solar_system_id)]?.[0]])}`,
      `region:${busiest(kills, (k) => [rawMap.systems[String(k.solar_system_id)]?.[1]])}`,
    ];

    const clients = await Promise.all(channels.map((channel) => FeedClient.connect(tg.feedUrl(`channels=${channel}&detail=summary`), { autoAck: true })));
    await Promise.all(clients.map((client) => client.waitForOp('subscribed')));

    // Publish in steps small enough that no ring of 100 overflows.
    for (let start = 0; start < kills.length; start += 50) {
      for (const kill of kills.slice(start, start + 50)) publisher.publish(kill as unknown as Record<string, unknown>);
      await publisher.flush();
      await eventually(() => tg.gateway.hub.latestId >= start + 50 || tg.gateway.hub.latestId >= kills.length, 10_000);
      // Longer than the 100 ms start interval, so each ring is flushed before the next step.
      await new Promise((resolve) => setTimeout(resolve, 150));
    }

    for (const [i, channel] of channels.entries()) {
      const client = clients[i] as FeedClient;
      const expected = expectedIds(kills, channel);
      expect(expected.length, channel).toBeGreaterThan(0);
      await client.waitUntil(() => client.events().length >= expected.length, 10_000, `${expected.length} events on ${channel}`);
      await new Promise((resolve) => setTimeout(resolve, 50));

      const received = client.events().map((event) => event.killmail_id as number);
      expect(received, channel).toEqual(expected);
      expect(client.batches().every((batch) => batch.dropped === 0), channel).toBe(true);
    }

    for (const client of clients) client.close();
  });
});
