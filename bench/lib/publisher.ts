import { headers, type NatsConnection } from '@nats-io/transport-node';

import type { CorpusKill } from './corpus.js';

/** NATS header carrying the producer's publish time in ms since the epoch. */
export const PUBLISHED_AT_HEADER = 'Killfeed-Published-At';

/** Timer period of the pacing loop, in ms. Each tick publishes every kill that is due. */
const TICK_MS = 5;

/**
 * Added to killmail_id once per pass over the corpus after the first, so a
 * run that loops publishes distinct kills: the gateway skips a killmail id
 * that it has seen recently. Corpus ids are below 10^8, so pass n's ids stay
 * distinct and safe integers for any realistic n.
 */
export const LOOP_ID_STRIDE = 1_000_000_000;

export interface PublishPlan {
  /** Corpus index of the first kill; the corpus wraps around after its last kill. */
  startIndex: number;
  /** Kills to publish. */
  count: number;
  /** Kills per second. */
  ratePerSecond: number;
  signal?: AbortSignal;
}

export interface PublishReport {
  /** Corpus indices in publish order. */
  publishedIndices: number[];
  startedAtMs: number;
  durationMs: number;
}

/**
 * Publishes `plan.count` corpus kills at a fixed rate, each as its own
 * message on the kill's subject with the publish time header.
 *
 * Kill n is due at start + n / rate, so timer lateness delays a tick's kills
 * but never shifts the schedule, and a late tick publishes all overdue kills
 * at once. Resolves after a flush, so every kill has reached the server.
 */
export async function publishAtRate(
  nc: NatsConnection,
  corpus: readonly CorpusKill[],
  plan: PublishPlan,
): Promise<PublishReport> {
  if (!(plan.ratePerSecond > 0)) throw new Error(`invalid publish rate ${plan.ratePerSecond}: expected kills per second > 0`);
  if (corpus.length === 0) throw new Error('the corpus is empty');

  const publishedIndices: number[] = [];
  const startedAtMs = Date.now();

  while (publishedIndices.length < plan.count && plan.signal?.aborted !== true) {
    const elapsedMs = Date.now() - startedAtMs;
    const due = Math.min(plan.count, Math.floor((elapsedMs * plan.ratePerSecond) / 1000) + 1);

    while (publishedIndices.length < due) {
      const position = plan.startIndex + publishedIndices.length;
      const index = position % corpus.length;
      const kill = corpus[index] as CorpusKill;
      const pass = Math.floor(position / corpus.length);
      publishKill(nc, kill, kill.killmailId + pass * LOOP_ID_STRIDE);
      publishedIndices.push(index);
    }

    if (publishedIndices.length < plan.count) await delay(TICK_MS);
  }

  await nc.flush();
  return { publishedIndices, startedAtMs, durationMs: Date.now() - startedAtMs };
}

/**
 * Publishes one kill with the Content-Type and publish time headers. With a
 * `killmailId` other than the kill's own, the payload is serialized again
 * with that id. No Nats-Msg-Id header: the publish time and the id already
 * make each message distinct.
 */
export function publishKill(nc: NatsConnection, kill: CorpusKill, killmailId: number = kill.killmailId): void {
  const payload = killmailId === kill.killmailId ? kill.payload : JSON.stringify({ ...kill.killmail, killmail_id: killmailId });

  const messageHeaders = headers();
  messageHeaders.set('Content-Type', 'application/json');
  messageHeaders.set(PUBLISHED_AT_HEADER, String(Date.now()));
  nc.publish(kill.subject, payload, { headers: messageHeaders });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
