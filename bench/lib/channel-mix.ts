import type { CorpusKill } from './corpus.js';

/** Channel types that the filtered scenario draws from. */
export const FILTERED_CHANNEL_TYPES = ['alliance', 'system', 'region'] as const;

/**
 * Returns a deterministic pseudo-random generator of numbers in [0, 1)
 * (mulberry32), so that a seed reproduces the same channel draw.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Draws `count` channel sets of 1 to 3 channels each. Every channel comes
 * from a random corpus kill: its alliance (from a random party that has
 * one), its system or its region, so every channel matches at least one
 * kill of the corpus and busy channels are drawn more often.
 */
export function drawFilteredChannelSets(corpus: readonly CorpusKill[], count: number, random: () => number): string[][] {
  if (corpus.length === 0) throw new Error('cannot draw channels from an empty corpus');

  // Per kill, the channels of each type, computed once.
  const byKill = corpus.map((kill) => ({
    alliance: kill.channels.filter((channel) => channel.startsWith('alliance:')),
    system: kill.channels.filter((channel) => channel.startsWith('system:')),
    region: kill.channels.filter((channel) => channel.startsWith('region:')),
  }));

  const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)];

  const sets: string[][] = [];
  while (sets.length < count) {
    const size = 1 + Math.floor(random() * 3);
    const channels = new Set<string>();

    // Bounded retries: a kill without an alliance yields nothing for that type.
    for (let attempt = 0; channels.size < size && attempt < size * 10; attempt += 1) {
      const kill = pick(byKill);
      const type = pick(FILTERED_CHANNEL_TYPES);
      if (kill === undefined || type === undefined) continue;

      const channel = pick(kill[type]);
      if (channel !== undefined) channels.add(channel);
    }

    if (channels.size > 0) sets.push([...channels]);
  }
  return sets;
}
