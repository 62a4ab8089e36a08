import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_UNIVERSE_PATH, Universe } from '../src/universe.js';

const JITA = 30000142;
const KIMOTORO = 20000020;
const THE_FORGE = 10000002;
const RIFTER = 587;
const FRIGATE_GROUP = 25;

describe('Universe', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'killfeed-universe-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('shipped map', () => {
    const universe = Universe.load();

    it('resolves the default path inside the package', () => {
      expect(DEFAULT_UNIVERSE_PATH.endsWith(join('data', 'eve-universe.json.gz'))).toBe(true);
    });

    it('contains every system and type of the map', () => {
      expect(universe.systemCount).toBe(8436);
      expect(universe.typeCount).toBe(48037);
    });

    it('maps Jita to Kimotoro and The Forge', () => {
      expect(universe.constellationOf(JITA)).toBe(KIMOTORO);
      expect(universe.regionOf(JITA)).toBe(THE_FORGE);
      expect(universe.hasSystem(JITA)).toBe(true);
      expect(universe.hasConstellation(KIMOTORO)).toBe(true);
      expect(universe.hasRegion(THE_FORGE)).toBe(true);
    });

    it('maps the Rifter to the Frigate group', () => {
      expect(universe.groupOf(RIFTER)).toBe(FRIGATE_GROUP);
      expect(universe.hasGroup(FRIGATE_GROUP)).toBe(true);
    });

    it('returns undefined and false for unknown ids', () => {
      expect(universe.constellationOf(1)).toBeUndefined();
      expect(universe.regionOf(1)).toBeUndefined();
      expect(universe.groupOf(1)).toBeUndefined();
      expect(universe.hasSystem(1)).toBe(false);
      expect(universe.hasConstellation(1)).toBe(false);
      expect(universe.hasRegion(1)).toBe(false);
      expect(universe.hasGroup(999_999)).toBe(false);
    });

    it('does not confuse id kinds', () => {
      expect(universe.hasSystem(THE_FORGE)).toBe(false);
      expect(universe.hasRegion(JITA)).toBe(false);
      expect(universe.hasConstellation(THE_FORGE)).toBe(false);
    });
  });

  describe('explicit path', () => {
    const map = {
      systems: { '30000001': [20000001, 10000001], '30000002': [20000001, 10000001, 0.9] },
      types: { '100': 7, '101': 7 },
    };

    it('loads a gzip-compressed map', async () => {
      const path = join(dir, 'small.json.gz');
      await writeFile(path, gzipSync(JSON.stringify(map)));

      const universe = Universe.load(path);

      expect(universe.systemCount).toBe(2);
      expect(universe.regionOf(30000002)).toBe(10000001);
      expect(universe.groupOf(101)).toBe(7);
    });

    it('loads a plain JSON map', async () => {
      const path = join(dir, 'small.json');
      await writeFile(path, JSON.stringify(map));

      const universe = Universe.load(path);

      expect(universe.constellationOf(30000001)).toBe(20000001);
      expect(universe.typeCount).toBe(2);
    });

    it('names the path when the file is missing', () => {
      const path = join(dir, 'missing.json.gz');
      expect(() => Universe.load(path)).toThrow(`failed to read the universe map ${path}`);
    });

    it('names the path when the file is not JSON', async () => {
      const path = join(dir, 'broken.json');
      await writeFile(path, '{"systems": ');
      expect(() => Universe.load(path)).toThrow(`failed to read the universe map ${path}`);
    });
  });

  describe('fromData', () => {
    it.each([
      ['an array', [], 'the top level is not an object'],
      ['no systems', { types: {} }, '"systems" is missing or not an object'],
      ['no types', { systems: {} }, '"types" is missing or not an object'],
      ['a short system entry', { systems: { '30000001': [20000001] }, types: {} }, 'systems["30000001"]'],
      ['a string region', { systems: { '30000001': [20000001, '10000001'] }, types: {} }, 'systems["30000001"]'],
      ['a non-numeric system key', { systems: { abc: [1, 2] }, types: {} }, 'systems["abc"]'],
      ['a negative group', { systems: {}, types: { '100': -1 } }, 'types["100"]'],
      ['a fractional group', { systems: {}, types: { '100': 2.5 } }, 'types["100"]'],
      ['a leading zero type key', { systems: {}, types: { '0100': 7 } }, 'types["0100"]'],
    ])('rejects %s', (_name, data, problem) => {
      expect(() => Universe.fromData(data, 'test map')).toThrow(`invalid universe map test map: ${problem}`);
    });
  });
});
