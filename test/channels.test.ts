import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

import { describe, expect, it } from 'vitest';

import { ALL_CHANNEL, CHANNEL_TYPES, MAX_CHANNEL_LENGTH, channelsOfKill, parseChannel, summarizeKill } from '../src/channels.js';
import type { EsiKillmail } from '../src/kill.js';
import { decodeKill } from '../src/kill-decoder.js';
import { Universe } from '../src/universe.js';

const universe = Universe.load();

const JITA = 30000142;
const KIMOTORO = 20000020;
const THE_FORGE = 10000002;
const RIFTER = 587;
const FRIGATE_GROUP = 25;
const CAPSULE = 670;
const CAPSULE_GROUP = 29;

// The expectations below read the raw files directly and never go through
// Universe or channelsOfKill.
interface RawParty {
  character_id?: number;
  corporation_id?: number;
  alliance_id?: number;
  faction_id?: number;
  ship_type_id?: number;
}

interface RawKillmail {
  killmail_id: number;
  solar_system_id: number;
  victim: RawParty;
  attackers: RawParty[];
}

interface RawUniverse {
  systems: Record<string, [number, number]>;
  types: Record<string, number>;
}

const rawUniverse = JSON.parse(
  gunzipSync(readFileSync(new URL('../data/eve-universe.json.gz', import.meta.url))).toString('utf8'),
) as RawUniverse;

const corpusLines = gunzipSync(readFileSync(new URL('../data/killmails/2021-11-28T00-03.jsonl.gz', import.meta.url)))
  .toString('utf8')
  .split('\n')
  .filter((line) => line !== '');

const rawKillmails = corpusLines.map((line) => JSON.parse(line) as RawKillmail);

const decodedKills = corpusLines.map((line) => {
  const result = decodeKill(Buffer.from(line), 'application/json', { universe, maxBytes: Number.POSITIVE_INFINITY });
  if (!result.ok) throw new Error(`corpus killmail failed to decode: ${result.message}`);
  return result.kill;
});

type IdChannelType = Exclude<(typeof CHANNEL_TYPES)[number], 'all'>;

/** The ids of one channel type that a raw killmail involves, read straight from the JSON. */
function involvedIds(killmail: RawKillmail, type: IdChannelType): number[] {
  const parties = [killmail.victim, ...killmail.attackers];
  const shipTypeIds = parties.flatMap((party) => (party.ship_type_id === undefined ? [] : [party.ship_type_id]));
  const location = rawUniverse.systems[String(killmail.solar_system_id)];

  switch (type) {
    case 'character':
    case 'corporation':
    case 'alliance':
    case 'faction': {
      const field = `${type}_id` as const;
      return parties.flatMap((party) => (party[field] === undefined ? [] : [party[field]]));
    }
    case 'ship':
      return shipTypeIds;
    case 'group':
      return shipTypeIds.flatMap((typeId) => {
        const groupId = rawUniverse.types[String(typeId)];
        return groupId === undefined ? [] : [groupId];
      });
    case 'system':
      return [killmail.solar_system_id];
    case 'constellation':
      return location === undefined ? [] : [location[0]];
    case 'region':
      return location === undefined ? [] : [location[1]];
  }
}

/** Picks the most frequent id, one from the middle of the frequency ranking and the rarest. */
function sampleIds(type: IdChannelType): number[] {
  const killCounts = new Map<number, number>();
  for (const killmail of rawKillmails) {
    for (const id of new Set(involvedIds(killmail, type))) {
      killCounts.set(id, (killCounts.get(id) ?? 0) + 1);
    }
  }

  const ranked = [...killCounts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([id]) => id);
  return [...new Set([ranked[0]!, ranked[Math.floor(ranked.length / 2)]!, ranked[ranked.length - 1]!])];
}

function sorted(ids: number[]): number[] {
  return [...ids].sort((a, b) => a - b);
}

function makeKillmail(): EsiKillmail {
  return {
    attackers: [
      { character_id: 3, corporation_id: 2, alliance_id: 4, final_blow: false, ship_type_id: CAPSULE },
      { corporation_id: 1000125, faction_id: 500001, final_blow: true, ship_type_id: RIFTER },
    ],
    killmail_id: 96982510,
    killmail_time: '2021-11-28T00:00:32Z',
    solar_system_id: JITA,
    victim: { character_id: 1, corporation_id: 2, items: [], ship_type_id: RIFTER },
  };
}

describe('channelsOfKill on the corpus', () => {
  const idTypes = CHANNEL_TYPES.filter((type): type is IdChannelType => type !== 'all');

  it('matches every kill on all:*', () => {
    const matched = decodedKills.filter((kill) => kill.channels.includes(ALL_CHANNEL)).map((kill) => kill.killmailId);
    expect(matched).toEqual(rawKillmails.map((killmail) => killmail.killmail_id));
  });

  describe.each(idTypes)('%s channels', (type) => {
    const ids = sampleIds(type);

    it('has ids to sample', () => {
      expect(ids.length).toBeGreaterThan(0);
    });

    it.each(ids)(`matches the kills involving ${type} %i`, (id) => {
      const expected = rawKillmails
        .filter((killmail) => involvedIds(killmail, type).includes(id))
        .map((killmail) => killmail.killmail_id);
      const actual = decodedKills.filter((kill) => kill.channels.includes(`${type}:${id}`)).map((kill) => kill.killmailId);

      expect(expected.length).toBeGreaterThan(0);
      expect(sorted(actual)).toEqual(sorted(expected));
    });
  });

  it('lists exactly the channels read from the raw killmail', () => {
    for (const [index, killmail] of rawKillmails.entries()) {
      const expected = new Set([ALL_CHANNEL]);
      for (const type of idTypes) {
        for (const id of involvedIds(killmail, type)) expected.add(`${type}:${id}`);
      }

      expect([...decodedKills[index]!.channels].sort()).toEqual([...expected].sort());
    }
  });

  it('lists each channel once', () => {
    for (const kill of decodedKills) {
      expect(new Set(kill.channels).size).toBe(kill.channels.length);
    }
  });

  it('lists only channels that parseChannel accepts unchanged', () => {
    for (const kill of decodedKills) {
      for (const channel of kill.channels) {
        expect(parseChannel(channel, universe)).toEqual({ ok: true, channel });
      }
    }
  });
});

describe('channelsOfKill', () => {
  it('lists the parties, ships, groups and location once each', () => {
    const channels = channelsOfKill(makeKillmail(), universe);

    expect(channels).toEqual([
      ALL_CHANNEL,
      'character:1',
      'corporation:2',
      `ship:${RIFTER}`,
      `group:${FRIGATE_GROUP}`,
      'character:3',
      'alliance:4',
      `ship:${CAPSULE}`,
      `group:${CAPSULE_GROUP}`,
      'corporation:1000125',
      'faction:500001',
      `system:${JITA}`,
      `constellation:${KIMOTORO}`,
      `region:${THE_FORGE}`,
    ]);
  });

  it('leaves out location and group channels the universe map lacks', () => {
    const killmail = makeKillmail();
    killmail.solar_system_id = 39999999;
    killmail.victim.ship_type_id = 999_999_999;

    const channels = channelsOfKill(killmail, universe);

    expect(channels).toContain('system:39999999');
    expect(channels).toContain('ship:999999999');
    expect(channels.some((channel) => channel.startsWith('constellation:'))).toBe(false);
    expect(channels.some((channel) => channel.startsWith('region:'))).toBe(false);
    expect(channels.filter((channel) => channel.startsWith('group:'))).toEqual([`group:${CAPSULE_GROUP}`, `group:${FRIGATE_GROUP}`]);
  });
});

describe('parseChannel', () => {
  it.each([
    ['all:*', 'all:*'],
    ['character:2120041143', 'character:2120041143'],
    ['corporation:98809574', 'corporation:98809574'],
    ['alliance:99202860', 'alliance:99202860'],
    ['faction:500026', 'faction:500026'],
    ['ship:587', 'ship:587'],
    ['group:25', 'group:25'],
    ['system:30000142', 'system:30000142'],
    ['constellation:20000020', 'constellation:20000020'],
    ['region:10000002', 'region:10000002'],
    ['system:0030000142', 'system:30000142'],
    ['character:007', 'character:7'],
  ])('accepts %s as %s', (raw, channel) => {
    expect(parseChannel(raw, universe)).toEqual({ ok: true, channel });
  });

  it.each(['killstream', 'location:40009082', 'Character:1', 'REGION:10000002', '', ':5', 'all*', 'characters:1'])(
    'rejects the unknown channel %j',
    (raw) => {
      const result = parseChannel(raw, universe);

      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.code).toBe('unknown_channel');
      expect(result.message).toContain(JSON.stringify(raw));
      expect(result.message).toContain('expected one of all:*, character:ID');
    },
  );

  it.each([
    ['all', 'the only channel of type all is all:*'],
    ['all:1', 'the only channel of type all is all:*'],
    ['all:**', 'the only channel of type all is all:*'],
    ['character', 'has no id; expected character:ID'],
    ['character:', 'invalid id ""'],
    ['character:0', 'invalid id "0"'],
    ['character:-1', 'invalid id "-1"'],
    ['character:+1', 'invalid id "+1"'],
    ['character:1.5', 'invalid id "1.5"'],
    ['character:1e3', 'invalid id "1e3"'],
    ['character: 1', 'invalid id " 1"'],
    ['character:0x1f', 'invalid id "0x1f"'],
    ['character:9007199254740993', 'invalid id "9007199254740993"'],
    ['system:30000142:1', 'invalid id "30000142:1"'],
    ['system:1', 'solar system 1, which is not in the universe map'],
    ['constellation:30000142', 'constellation 30000142, which is not in the universe map'],
    ['region:20000020', 'region 20000020, which is not in the universe map'],
    ['group:999999', 'group 999999, which no type in the universe map belongs to'],
  ])('rejects the invalid channel %j', (raw, fragment) => {
    const result = parseChannel(raw, universe);

    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe('invalid_channel');
    expect(result.message).toContain(JSON.stringify(raw));
    expect(result.message).toContain(fragment);
  });

  it(`rejects names over ${MAX_CHANNEL_LENGTH} characters`, () => {
    const overLimit = `system:${'0'.repeat(500)}30000142`;

    const result = parseChannel(overLimit, universe);

    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe('invalid_channel');
    expect(result.message).toContain(`${overLimit.length} characters long, over the maximum of ${MAX_CHANNEL_LENGTH}`);
    expect(result.message.length).toBeLessThan(200);
  });

  it(`accepts a name of exactly ${MAX_CHANNEL_LENGTH} characters`, () => {
    const raw = `system:${'0'.repeat(MAX_CHANNEL_LENGTH - 'system:'.length - 8)}30000142`;

    expect(raw.length).toBe(MAX_CHANNEL_LENGTH);
    expect(parseChannel(raw, universe)).toEqual({ ok: true, channel: 'system:30000142' });
  });
});

describe('summarizeKill', () => {
  it('summarizes the victim, the final blow and the location', () => {
    const summary = summarizeKill(makeKillmail(), { totalValue: 1_250_000.5 }, universe);

    expect(summary).toStrictEqual({
      killmail_id: 96982510,
      killmail_time: '2021-11-28T00:00:32Z',
      solar_system_id: JITA,
      constellation_id: KIMOTORO,
      region_id: THE_FORGE,
      victim: { character_id: 1, corporation_id: 2, ship_type_id: RIFTER, group_id: FRIGATE_GROUP },
      final_blow: { corporation_id: 1000125, ship_type_id: RIFTER, group_id: FRIGATE_GROUP },
      attacker_count: 2,
      total_value: 1_250_000.5,
    });
  });

  it('omits the final blow when no attacker has it', () => {
    const killmail = makeKillmail();
    for (const attacker of killmail.attackers) attacker.final_blow = false;

    expect(summarizeKill(killmail, undefined, universe)).not.toHaveProperty('final_blow');
  });

  it('takes the first attacker with the final blow', () => {
    const killmail = makeKillmail();
    for (const attacker of killmail.attackers) attacker.final_blow = true;

    expect(summarizeKill(killmail, undefined, universe).final_blow).toStrictEqual({
      character_id: 3,
      corporation_id: 2,
      alliance_id: 4,
      ship_type_id: CAPSULE,
      group_id: CAPSULE_GROUP,
    });
  });

  it('omits location and group ids the universe map lacks', () => {
    const killmail = makeKillmail();
    killmail.solar_system_id = 39999999;
    killmail.victim.ship_type_id = 999_999_999;

    const summary = summarizeKill(killmail, undefined, universe);

    expect(summary).not.toHaveProperty('constellation_id');
    expect(summary).not.toHaveProperty('region_id');
    expect(summary.victim).toStrictEqual({ character_id: 1, corporation_id: 2, ship_type_id: 999_999_999 });
  });

  it.each([
    ['a string', '1250000'],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['null', null],
  ])('omits a total value that is %s', (_name, totalValue) => {
    expect(summarizeKill(makeKillmail(), { totalValue }, universe)).not.toHaveProperty('total_value');
  });

  it('counts every attacker', () => {
    const killmail = makeKillmail();
    killmail.attackers.push({ corporation_id: 2 }, { corporation_id: 2 });

    expect(summarizeKill(killmail, undefined, universe).attacker_count).toBe(4);
  });
});
