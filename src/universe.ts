import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

/**
 * The universe map shipped with the package. Both src/ (vitest, tsx) and
 * dist/ (after `tsc -p tsconfig.build.json`) sit one level below the package
 * root, so one relative URL serves both.
 */
export const DEFAULT_UNIVERSE_PATH = fileURLToPath(new URL('../data/eve-universe.json.gz', import.meta.url));

const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;
const DECIMAL_ID = /^(0|[1-9][0-9]*)$/;

/**
 * Static EVE Online lookups that routing needs: solar system to
 * constellation and region, and item type to group.
 *
 * The file format is `{"systems": {"<systemId>": [constellationId, regionId, ...]},
 * "types": {"<typeId>": groupId}}`, gzip-compressed or plain. Extra elements
 * in a system entry (such as security status) are ignored. Ids may be 0
 * because the Static Data Export has type 0 and group 0.
 */
export class Universe {
  private readonly systemConstellations = new Map<number, number>();
  private readonly systemRegions = new Map<number, number>();
  private readonly typeGroups = new Map<number, number>();
  private readonly constellations = new Set<number>();
  private readonly regions = new Set<number>();
  private readonly groups = new Set<number>();

  private constructor() {}

  /**
   * Reads and validates a universe map file, synchronously because it runs
   * once at startup. Throws an Error naming the path and the first invalid
   * entry.
   */
  static load(path: string = DEFAULT_UNIVERSE_PATH): Universe {
    let data: unknown;
    try {
      const raw = readFileSync(path);
      const text = isGzip(raw) ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
      data = JSON.parse(text);
    } catch (err) {
      throw new Error(`failed to read the universe map ${path}: ${(err as Error).message}`, { cause: err });
    }

    return Universe.fromData(data, path);
  }

  /**
   * Builds a universe from an already parsed map. `source` names the map in
   * error messages.
   */
  static fromData(data: unknown, source = 'universe data'): Universe {
    if (!isRecord(data)) throw invalidMap(source, 'the top level is not an object');

    const { systems, types } = data;
    if (!isRecord(systems)) throw invalidMap(source, '"systems" is missing or not an object');
    if (!isRecord(types)) throw invalidMap(source, '"types" is missing or not an object');

    const universe = new Universe();

    for (const key of Object.keys(systems)) {
      const entry = systems[key];
      const constellationId = Array.isArray(entry) ? entry[0] : undefined;
      const regionId = Array.isArray(entry) ? entry[1] : undefined;
      if (!DECIMAL_ID.test(key) || !isId(constellationId) || !isId(regionId)) {
        throw invalidMap(source, `systems[${JSON.stringify(key)}] is not [constellationId, regionId] with integer ids of 0 or more`);
      }

      const systemId = Number(key);
      universe.systemConstellations.set(systemId, constellationId);
      universe.systemRegions.set(systemId, regionId);
      universe.constellations.add(constellationId);
      universe.regions.add(regionId);
    }

    for (const key of Object.keys(types)) {
      const groupId = types[key];
      if (!DECIMAL_ID.test(key) || !isId(groupId)) {
        throw invalidMap(source, `types[${JSON.stringify(key)}] is not an integer group id of 0 or more`);
      }

      universe.typeGroups.set(Number(key), groupId);
      universe.groups.add(groupId);
    }

    return universe;
  }

  get systemCount(): number {
    return this.systemRegions.size;
  }

  get typeCount(): number {
    return this.typeGroups.size;
  }

  constellationOf(systemId: number): number | undefined {
    return this.systemConstellations.get(systemId);
  }

  regionOf(systemId: number): number | undefined {
    return this.systemRegions.get(systemId);
  }

  groupOf(typeId: number): number | undefined {
    return this.typeGroups.get(typeId);
  }

  hasSystem(systemId: number): boolean {
    return this.systemRegions.has(systemId);
  }

  hasConstellation(constellationId: number): boolean {
    return this.constellations.has(constellationId);
  }

  hasRegion(regionId: number): boolean {
    return this.regions.has(regionId);
  }

  /** Returns whether any type in the map belongs to the group. */
  hasGroup(groupId: number): boolean {
    return this.groups.has(groupId);
  }
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === GZIP_MAGIC_0 && bytes[1] === GZIP_MAGIC_1;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function invalidMap(source: string, problem: string): Error {
  return new Error(`invalid universe map ${source}: ${problem}`);
}
