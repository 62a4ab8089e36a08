import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

import fc from 'fast-check';
import { Packr, pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';

import { decodeKill, killFromValue, MAX_NESTING_DEPTH, REJECT_REASONS, type DecodeResult } from '../src/kill-decoder.js';
import { Universe } from '../src/universe.js';

const universe = Universe.load();
const ctx = { universe, maxBytes: 1_048_576 };
const encoder = new TextEncoder();

const JITA = 30000142;
const RIFTER = 587;
const CAPSULE = 670;

const corpusLines = gunzipSync(readFileSync(new URL('../data/killmails/2021-11-28T00-03.jsonl.gz', import.meta.url)))
  .toString('utf8')
  .split('\n')
  .filter((line) => line !== '');

function makeKillmail(): Record<string, any> {
  return {
    attackers: [
      { character_id: 3, corporation_id: 2, alliance_id: 4, damage_done: 100, final_blow: false, ship_type_id: CAPSULE },
      { corporation_id: 1000125, faction_id: 500001, damage_done: 50, final_blow: true, ship_type_id: RIFTER },
    ],
    killmail_id: 96982510,
    killmail_time: '2021-11-28T00:00:32Z',
    solar_system_id: JITA,
    victim: { character_id: 1, corporation_id: 2, damage_taken: 150, items: [], ship_type_id: RIFTER },
  };
}

function makeR2z2Package(esi: Record<string, unknown> = makeKillmail()): Record<string, any> {
  return {
    killmail_id: esi.killmail_id,
    hash: 'eb9e59c88a41dcb50405eb72dd6b5f4a2bebee40',
    esi,
    zkb: { locationID: 50000001, totalValue: 12_345_678.9, points: 1, npc: false, solo: false, awox: false, labels: ['pvp'] },
    sequence_id: 1234,
    uploaded_at: 1638057640,
  };
}

function json(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

function expectRejected(result: DecodeResult, reason: string, ...fragments: string[]): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.reason).toBe(reason);
  for (const fragment of fragments) expect(result.message).toContain(fragment);
}

function expectDecoded(result: DecodeResult): Extract<DecodeResult, { ok: true }> {
  if (!result.ok) throw new Error(`expected the payload to decode, got ${result.reason}: ${result.message}`);
  return result;
}

describe('decodeKill formats', () => {
  it('decodes an ESI killmail as JSON', () => {
    const killmail = makeKillmail();

    const result = expectDecoded(decodeKill(json(killmail), 'application/json', ctx));

    expect(result.format).toBe('json');
    expect(result.kill.killmailId).toBe(96982510);
    expect(result.kill.killmail).toEqual(killmail);
    expect(result.kill.zkb).toBeUndefined();
    expect(result.kill.channels).toContain('all:*');
    expect(result.kill.summary.total_value).toBeUndefined();
  });

  it.each(['application/json; charset=utf-8', 'Application/JSON', ' application/json ;foo=bar'])(
    'ignores case and parameters in %j',
    (contentType) => {
      const result = decodeKill(json(makeKillmail()), contentType, ctx);
      expect(expectDecoded(result).format).toBe('json');
    },
  );

  it.each(['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack', 'application/msgpack; v=5'])(
    'decodes msgpack as %s',
    (contentType) => {
      const killmail = makeKillmail();

      const result = expectDecoded(decodeKill(pack(killmail), contentType, ctx));

      expect(result.format).toBe('msgpack');
      expect(result.kill.killmail).toEqual(killmail);
    },
  );

  it('sniffs JSON after leading whitespace', () => {
    const payload = encoder.encode(` \r\n\t${JSON.stringify(makeKillmail())}`);
    expect(expectDecoded(decodeKill(payload, undefined, ctx)).format).toBe('json');
  });

  it('sniffs fixmap and map16 msgpack prefixes', () => {
    const killmail = makeKillmail();

    const smallPayload = new Packr({ useRecords: false, variableMapSize: true }).pack(killmail);
    const largePayload = new Packr({ useRecords: false }).pack(killmail);

    expect(smallPayload[0]).toBeGreaterThanOrEqual(0x80);
    expect(smallPayload[0]).toBeLessThanOrEqual(0x8f);
    expect(largePayload[0]).toBe(0xde);
    expect(expectDecoded(decodeKill(smallPayload, undefined, ctx)).format).toBe('msgpack');
    expect(expectDecoded(decodeKill(largePayload, '', ctx)).format).toBe('msgpack');
  });

  it('sniffs a map32 msgpack prefix', () => {
    const payload = Buffer.concat([Buffer.from([0xdf, 0, 0, 0, 1]), pack('killmail_id'), pack(1)]);
    expectRejected(decodeKill(payload, undefined, ctx), 'invalid_killmail', 'killmail_time is missing');
  });

  it('decodes an R2Z2 package as JSON and msgpack', () => {
    const r2z2 = makeR2z2Package();

    for (const [payload, contentType] of [
      [json(r2z2), 'application/json'],
      [pack(r2z2), 'application/msgpack'],
    ] as const) {
      const result = expectDecoded(decodeKill(payload, contentType, ctx));
      expect(result.kill.killmail).toEqual(r2z2.esi);
      expect(result.kill.zkb).toEqual(r2z2.zkb);
      expect(result.kill.killmailId).toBe(96982510);
      expect(result.kill.summary.total_value).toBe(12_345_678.9);
    }
  });

  it('accepts an R2Z2 package without zkb', () => {
    const r2z2 = makeR2z2Package();
    delete r2z2.zkb;

    const result = expectDecoded(decodeKill(json(r2z2), undefined, ctx));

    expect(result.kill.zkb).toBeUndefined();
    expect(result.kill.summary.total_value).toBeUndefined();
  });

  it('leaves out a non-finite total value', () => {
    const r2z2 = makeR2z2Package();
    r2z2.zkb.totalValue = '12345';

    const result = expectDecoded(decodeKill(json(r2z2), undefined, ctx));

    expect(result.kill.zkb?.totalValue).toBe('12345');
    expect(result.kill.summary.total_value).toBeUndefined();
  });

  it('decodes every corpus killmail as JSON and msgpack', () => {
    const packr = new Packr({ useRecords: false });
    let decoded = 0;

    for (const line of corpusLines) {
      const killmail = JSON.parse(line) as Record<string, unknown>;
      const fromJson = expectDecoded(decodeKill(encoder.encode(line), 'application/json', ctx));
      const fromMsgpack = expectDecoded(decodeKill(packr.pack(killmail), 'application/msgpack', ctx));

      expect(fromJson.kill.killmailId).toBe(killmail.killmail_id);
      expect(fromMsgpack.kill.killmail).toEqual(fromJson.kill.killmail);
      expect(fromMsgpack.kill.channels).toEqual(fromJson.kill.channels);
      decoded += 1;
    }

    expect(decoded).toBe(1735);
  });
});

describe('decodeKill rejections', () => {
  it('rejects a payload over maxBytes before parsing', () => {
    const payload = encoder.encode('not json at all, and long enough');

    expectRejected(decodeKill(payload, 'application/json', { universe, maxBytes: 10 }), 'too_large', '32 bytes', 'maximum of 10');
  });

  it('accepts a payload of exactly maxBytes', () => {
    const payload = json(makeKillmail());
    expectDecoded(decodeKill(payload, 'application/json', { universe, maxBytes: payload.byteLength }));
  });

  it.each(['text/plain', 'application/octet-stream', 'application/jsonx'])('rejects the content type %s', (contentType) => {
    expectRejected(decodeKill(json(makeKillmail()), contentType, ctx), 'unsupported_content_type', JSON.stringify(contentType));
  });

  it.each([
    ['an empty payload', new Uint8Array(0), 'the payload is empty'],
    ['a JSON array', encoder.encode('[1, 2]'), 'byte 0x5b'],
    ['a msgpack array', pack([1, 2]), 'byte 0x92'],
    ['whitespace only', encoder.encode('   '), 'byte 0x20'],
  ])('rejects %s when sniffing', (_name, payload, fragment) => {
    expectRejected(decodeKill(payload, undefined, ctx), 'unknown_format', fragment);
  });

  it('rejects truncated JSON', () => {
    expectRejected(decodeKill(encoder.encode('{"killmail_id": '), 'application/json', ctx), 'invalid_json', 'not valid JSON');
  });

  it('rejects JSON that is not UTF-8', () => {
    const payload = Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]);
    expectRejected(decodeKill(payload, undefined, ctx), 'invalid_json');
  });

  it('rejects truncated msgpack', () => {
    const payload = pack(makeKillmail()).subarray(0, 40);
    expectRejected(decodeKill(payload, undefined, ctx), 'invalid_msgpack', 'not valid msgpack');
  });

  it('rejects msgpack with trailing bytes', () => {
    const payload = Buffer.concat([pack(makeKillmail()), Buffer.from([0x01])]);
    expectRejected(decodeKill(payload, 'application/msgpack', ctx), 'invalid_msgpack');
  });

  it('rejects a JSON array sent as application/json', () => {
    expectRejected(decodeKill(encoder.encode('[1]'), 'application/json', ctx), 'invalid_killmail', 'payload is an array of 1 items');
  });

  type Mutation = (killmail: Record<string, any>) => void;
  const fieldCases: Array<[string, Mutation, string]> = [
    ['missing killmail_id', (k) => delete k.killmail_id, 'killmail_id is missing'],
    ['zero killmail_id', (k) => (k.killmail_id = 0), 'killmail_id is 0'],
    ['negative killmail_id', (k) => (k.killmail_id = -7), 'killmail_id is -7'],
    ['fractional killmail_id', (k) => (k.killmail_id = 1.5), 'killmail_id is 1.5'],
    ['string killmail_id', (k) => (k.killmail_id = '96982510'), 'killmail_id is "96982510"'],
    ['unsafe killmail_id', (k) => (k.killmail_id = 2 ** 53), 'killmail_id is 9007199254740992'],
    ['missing killmail_time', (k) => delete k.killmail_time, 'killmail_time is missing'],
    ['numeric killmail_time', (k) => (k.killmail_time = 1638057632), 'killmail_time is 1638057632'],
    ['killmail_time with a space', (k) => (k.killmail_time = '2021-11-28 00:00:32Z'), '"2021-11-28 00:00:32Z"'],
    ['killmail_time with an offset', (k) => (k.killmail_time = '2021-11-28T01:00:32+01:00'), '+01:00'],
    ['killmail_time on February 30', (k) => (k.killmail_time = '2021-02-30T00:00:00Z'), '2021-02-30'],
    ['killmail_time on February 29 of 2021', (k) => (k.killmail_time = '2021-02-29T00:00:00Z'), '2021-02-29'],
    ['killmail_time at hour 24', (k) => (k.killmail_time = '2021-11-28T24:00:00Z'), 'T24:00:00Z'],
    ['killmail_time in month 13', (k) => (k.killmail_time = '2021-13-01T00:00:00Z'), '2021-13-01'],
    ['zero solar_system_id', (k) => (k.solar_system_id = 0), 'solar_system_id is 0'],
    ['string solar_system_id', (k) => (k.solar_system_id = '30000142'), 'solar_system_id is "30000142"'],
    ['missing victim', (k) => delete k.victim, 'victim is missing'],
    ['array victim', (k) => (k.victim = []), 'victim is an array of 0 items'],
    ['null victim', (k) => (k.victim = null), 'victim is null'],
    ['victim without a ship', (k) => delete k.victim.ship_type_id, 'victim.ship_type_id is missing'],
    ['zero victim character_id', (k) => (k.victim.character_id = 0), 'victim.character_id is 0'],
    ['null victim alliance_id', (k) => (k.victim.alliance_id = null), 'victim.alliance_id is null'],
    ['string victim faction_id', (k) => (k.victim.faction_id = '500001'), 'victim.faction_id is "500001"'],
    ['missing attackers', (k) => delete k.attackers, 'attackers is missing'],
    ['empty attackers', (k) => (k.attackers = []), 'attackers is an array of 0 items'],
    ['object attackers', (k) => (k.attackers = {}), 'attackers is an object'],
    ['null attacker', (k) => (k.attackers[1] = null), 'attackers[1] is null'],
    ['negative attacker character_id', (k) => (k.attackers[0].character_id = -5), 'attackers[0].character_id is -5'],
    ['fractional attacker ship', (k) => (k.attackers[1].ship_type_id = 1.5), 'attackers[1].ship_type_id is 1.5'],
    ['string final_blow', (k) => (k.attackers[1].final_blow = 'yes'), 'attackers[1].final_blow is "yes"'],
  ];

  it.each(fieldCases)('rejects a killmail with %s', (_name, mutate, fragment) => {
    const killmail = makeKillmail();
    mutate(killmail);

    expectRejected(decodeKill(json(killmail), 'application/json', ctx), 'invalid_killmail', fragment);
    expectRejected(decodeKill(pack(killmail), 'application/msgpack', ctx), 'invalid_killmail', fragment);
  });

  it.each(fieldCases)('rejects an R2Z2 package with %s', (_name, mutate, fragment) => {
    const r2z2 = makeR2z2Package();
    mutate(r2z2.esi);
    r2z2.killmail_id = 96982510;

    const result = decodeKill(json(r2z2), undefined, ctx);

    expectRejected(result, 'invalid_killmail', fragment);
    expect(result.ok ? '' : result.message).toMatch(/^esi\./);
  });

  it('rejects an R2Z2 package whose ids differ', () => {
    const r2z2 = makeR2z2Package();
    r2z2.killmail_id = 96982511;

    expectRejected(decodeKill(json(r2z2), undefined, ctx), 'invalid_killmail', 'killmail_id is 96982511', 'esi.killmail_id is 96982510');
  });

  it.each([
    ['esi', (p: Record<string, any>) => (p.esi = 'text'), 'esi is "text"'],
    ['zkb', (p: Record<string, any>) => (p.zkb = []), 'zkb is an array of 0 items'],
    ['zkb', (p: Record<string, any>) => (p.zkb = null), 'zkb is null'],
  ])('rejects an R2Z2 package with an invalid %s', (_field, mutate, fragment) => {
    const r2z2 = makeR2z2Package();
    mutate(r2z2);

    expectRejected(decodeKill(json(r2z2), undefined, ctx), 'invalid_killmail', fragment);
  });

  it('truncates a long offending value in the message', () => {
    const killmail = makeKillmail();
    killmail.killmail_time = 'x'.repeat(10_000);

    const result = decodeKill(json(killmail), undefined, ctx);

    expectRejected(result, 'invalid_killmail', 'killmail_time is "xxxx', '…');
    expect(result.ok ? '' : result.message.length).toBeLessThan(200);
  });
});

describe('decodeKill values without a JSON form', () => {
  const structuredPackr = new Packr({ structuredClone: true, useRecords: false });

  it('rejects a msgpack timestamp as killmail_time', () => {
    const killmail = makeKillmail();
    killmail.killmail_time = new Date('2021-11-28T00:00:32Z');

    expectRejected(decodeKill(pack(killmail), undefined, ctx), 'invalid_killmail', 'killmail_time is a Date object');
  });

  it('rejects a set inside the victim', () => {
    const killmail = makeKillmail();
    killmail.victim.items = new Set([1, 2]);

    expectRejected(decodeKill(structuredPackr.pack(killmail), undefined, ctx), 'invalid_killmail', 'victim.items is a Set object');
  });

  it('rejects binary data inside an attacker', () => {
    const killmail = makeKillmail();
    killmail.attackers[1].blob = Buffer.from([1, 2, 3]);

    expectRejected(decodeKill(pack(killmail), undefined, ctx), 'invalid_killmail', 'attackers[1].blob is a');
  });

  it('rejects a cyclic array', () => {
    const cycle: unknown[] = [1];
    cycle.push(cycle);
    const killmail = makeKillmail();
    killmail.victim.items = cycle;

    expectRejected(decodeKill(structuredPackr.pack(killmail), undefined, ctx), 'invalid_killmail', 'victim.items[1][1]', 'nests deeper');
  });

  it('rejects a cyclic object sent as msgpack records', () => {
    const killmail = makeKillmail();
    killmail.victim.self = killmail.victim;

    const payload = new Packr({ structuredClone: true }).pack(killmail);

    expectRejected(decodeKill(payload, 'application/msgpack', ctx), 'invalid_killmail', 'victim.self.self', 'nests deeper');
  });

  it('rejects shared references that expand past the payload size', () => {
    let node: unknown = [1];
    for (let i = 0; i < 25; i++) node = [node, node];
    const killmail = makeKillmail();
    killmail.victim.items = node;

    const payload = structuredPackr.pack(killmail);

    expect(payload.byteLength).toBeLessThan(2000);
    expectRejected(decodeKill(payload, undefined, ctx), 'invalid_killmail', 'shared references are not supported');
  });

  it(`rejects nesting deeper than ${MAX_NESTING_DEPTH} levels`, () => {
    let node: unknown = [];
    for (let i = 0; i < MAX_NESTING_DEPTH; i++) node = [node];
    const killmail = makeKillmail();
    killmail.victim.items = node;

    expectRejected(decodeKill(json(killmail), undefined, ctx), 'invalid_killmail', `nests deeper than ${MAX_NESTING_DEPTH} levels`);
  });

  it('accepts nesting just under the limit', () => {
    let node: unknown = [];
    for (let i = 0; i < MAX_NESTING_DEPTH - 3; i++) node = [node];
    const killmail = makeKillmail();
    killmail.victim.items = node;

    expectDecoded(decodeKill(json(killmail), undefined, ctx));
  });
});

describe('killFromValue', () => {
  it('builds the same kill as decodeKill', () => {
    const killmail = makeKillmail();

    const result = killFromValue(killmail, universe);

    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.kill).toEqual(expectDecoded(decodeKill(json(killmail), undefined, ctx)).kill);
  });

  it.each([null, 42, 'text', [makeKillmail()]])('rejects the non-object %j', (value) => {
    const result = killFromValue(value, universe);
    expect(result.ok).toBe(false);
    expect(result.ok ? undefined : result.reason).toBe('invalid_killmail');
  });
});

describe('decodeKill never throws', () => {
  const contentTypes = fc.constantFrom(undefined, '', 'application/json', 'application/msgpack', 'text/plain; charset=utf-8');

  function checkResult(result: DecodeResult): void {
    if (result.ok) {
      expect(Number.isSafeInteger(result.kill.killmailId)).toBe(true);
      expect(result.kill.channels[0]).toBe('all:*');
      expect(() => JSON.stringify(result.kill.killmail)).not.toThrow();
      return;
    }
    expect(REJECT_REASONS).toContain(result.reason);
    expect(result.message.length).toBeGreaterThan(0);
  }

  it('for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), contentTypes, (payload, contentType) => {
        checkResult(decodeKill(payload, contentType, ctx));
      }),
      { numRuns: 2000 },
    );
  });

  it('for arbitrary bytes after a msgpack map prefix', () => {
    const prefix = fc.oneof(fc.integer({ min: 0x80, max: 0x8f }), fc.constantFrom(0xde, 0xdf));
    fc.assert(
      fc.property(prefix, fc.uint8Array({ maxLength: 512 }), (first, rest) => {
        const payload = new Uint8Array(rest.length + 1);
        payload[0] = first;
        payload.set(rest, 1);
        checkResult(decodeKill(payload, undefined, ctx));
      }),
      { numRuns: 2000 },
    );
  });

  it('for arbitrary JSON values as JSON and msgpack', () => {
    fc.assert(
      fc.property(fc.jsonValue(), contentTypes, (value, contentType) => {
        checkResult(decodeKill(json(value), contentType, ctx));
        checkResult(decodeKill(pack(value), contentType, ctx));
      }),
      { numRuns: 1000 },
    );
  });

  it('for a killmail with one field replaced by an arbitrary value', () => {
    const paths = [
      ['killmail_id'],
      ['killmail_time'],
      ['solar_system_id'],
      ['victim'],
      ['victim', 'ship_type_id'],
      ['victim', 'character_id'],
      ['victim', 'items'],
      ['attackers'],
      ['attackers', 0],
      ['attackers', 1, 'final_blow'],
      ['attackers', 1, 'alliance_id'],
    ] as const;
    const replacement = fc.oneof(
      fc.jsonValue(),
      fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true }),
    );

    fc.assert(
      fc.property(fc.constantFrom(...paths), replacement, fc.boolean(), (path, value, asR2z2) => {
        const killmail = makeKillmail();
        let parent: any = killmail;
        for (const key of path.slice(0, -1)) parent = parent[key];
        parent[path[path.length - 1]!] = value;
        const root = asR2z2 ? makeR2z2Package(killmail) : killmail;

        let payload: Uint8Array;
        try {
          payload = new Packr({ structuredClone: true, useRecords: false }).pack(root);
        } catch {
          return;
        }
        checkResult(decodeKill(payload, undefined, ctx));

        let text: string | undefined;
        try {
          text = JSON.stringify(root);
        } catch {
          text = undefined;
        }
        if (text !== undefined) checkResult(decodeKill(encoder.encode(text), undefined, ctx));
      }),
      { numRuns: 2000 },
    );
  });
});
