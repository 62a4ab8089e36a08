import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

import { channelsOfKill } from '../../src/channels.js';
import type { EsiKillmail } from '../../src/kill.js';
import { Universe } from '../../src/universe.js';

/** The killmails of 2021-11-28 00:00–02:59 UTC, one ESI JSON object per line, gzip-compressed. */
export const DEFAULT_CORPUS_PATH = fileURLToPath(new URL('../../data/killmails/2021-11-28T00-03.jsonl.gz', import.meta.url));

/** One corpus kill, ready to publish and to match against channel sets. */
export interface CorpusKill {
  /** Line position in the corpus, from 0. */
  index: number;
  killmailId: number;
  killmailTime: string;
  /** NATS subject `kills.<region_id>.<solar_system_id>`, with `unknown` for a system missing from the map. */
  subject: string;
  /** The line as published, UTF-8 JSON. */
  payload: Uint8Array;
  /** Channel keys the kill matches, as the gateway computes them. */
  channels: readonly string[];
  killmail: EsiKillmail;
}

/**
 * Reads the whole corpus into memory (1,735 kills, about 4 MB of JSON) and
 * computes each kill's subject and channels. Throws on a line that is not a
 * JSON object with a killmail_id and a solar_system_id, naming the line.
 */
export function loadCorpus(path: string = DEFAULT_CORPUS_PATH, universe: Universe = Universe.load()): CorpusKill[] {
  const raw = readFileSync(path);
  const text = path.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  const encoder = new TextEncoder();

  const kills: CorpusKill[] = [];
  for (const [lineIndex, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;

    const killmail = JSON.parse(line) as EsiKillmail;
    if (typeof killmail.killmail_id !== 'number' || typeof killmail.solar_system_id !== 'number') {
      throw new Error(`invalid corpus line ${lineIndex + 1} in ${path}: killmail_id or solar_system_id is missing`);
    }

    const regionId = universe.regionOf(killmail.solar_system_id);
    kills.push({
      index: kills.length,
      killmailId: killmail.killmail_id,
      killmailTime: killmail.killmail_time,
      subject: `kills.${regionId ?? 'unknown'}.${killmail.solar_system_id}`,
      payload: encoder.encode(line),
      channels: channelsOfKill(killmail, universe),
      killmail,
    });
  }

  if (kills.length === 0) throw new Error(`the corpus ${path} contains no kills`);
  return kills;
}

/**
 * Returns the start index of a window of `count` consecutive kills centred on
 * the first kill at or after `centreTime` (an ISO-8601 prefix such as
 * `2021-11-28T01:44`), clamped to the corpus.
 */
export function windowAround(corpus: readonly CorpusKill[], centreTime: string, count: number): number {
  const centre = corpus.findIndex((kill) => kill.killmailTime >= centreTime);
  if (centre < 0) return Math.max(0, corpus.length - count);

  const start = centre - Math.floor(count / 2);
  return Math.min(Math.max(0, start), Math.max(0, corpus.length - count));
}
