/**
 * One load-generator process: opens its share of the clients, reports
 * progress to the coordinator over IPC, and at the end sends its totals.
 * Started by load-generator.ts with `fork()`; not meant to be run by hand.
 */
import { buildMatchIndex, countMatched, unaccountedEvents } from '../k6/lib/killfeed-protocol.js';
import { loadCorpus, type CorpusKill } from './corpus.js';
import { FeedClient, type ClientErrorKind, type ClientRecorder } from './feed-client.js';
import { Histogram } from './histogram.js';
import type {
  ClientGroup,
  CoordinatorMessage,
  GroupTotals,
  UnbalancedClient,
  WorkerFinalMessage,
  WorkerMessage,
  WorkerPublishedMessage,
  WorkerStartMessage,
} from './worker-messages.js';

const PROGRESS_INTERVAL_MS = 500;
const MAX_ERROR_SAMPLES = 20;
const MAX_UNBALANCED_LISTED = 20;

interface WorkerClient {
  client: FeedClient;
  group: ClientGroup;
  channels: string[];
}

class GroupRecorder implements ClientRecorder {
  readonly freshnessMs = new Histogram();
  readonly batchEvents = new Histogram();
  readonly connectMs = new Histogram();

  constructor(private readonly errors: ErrorLog) {}

  recordError(kind: ClientErrorKind, detail: string): void {
    this.errors.record(kind, detail);
  }
}

class ErrorLog {
  readonly counts: Partial<Record<ClientErrorKind, number>> = {};

  constructor(
    private readonly group: ClientGroup,
    private readonly samples: string[],
  ) {}

  record(kind: ClientErrorKind, detail: string): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    if (this.samples.length < MAX_ERROR_SAMPLES) this.samples.push(`${this.group} ${kind}: ${detail}`);
  }
}

const errorSamples: string[] = [];
const errorLogs: Record<ClientGroup, ErrorLog> = {
  readers: new ErrorLog('readers', errorSamples),
  slow: new ErrorLog('slow', errorSamples),
};
const recorders: Record<ClientGroup, GroupRecorder> = {
  readers: new GroupRecorder(errorLogs.readers),
  slow: new GroupRecorder(errorLogs.slow),
};
const clients: WorkerClient[] = [];
let corpus: CorpusKill[] = [];
let matchedKnown = false;
let workerIndex = 0;

function send(message: WorkerMessage): void {
  process.send?.(message);
}

async function start(message: WorkerStartMessage): Promise<void> {
  workerIndex = message.workerIndex;
  corpus = loadCorpus(message.corpusPath);

  // Connects are spaced by a schedule against the start time, not by
  // awaiting each other, so one slow handshake does not hold back the rest.
  const startedAt = Date.now();
  const connects: Array<Promise<void>> = [];
  for (const [index, plan] of message.clients.entries()) {
    const dueAt = startedAt + index * message.connectIntervalMs;
    const waitMs = dueAt - Date.now();
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));

    const group: ClientGroup = plan.slow ? 'slow' : 'readers';
    const client = new FeedClient({
      transport: message.transport,
      url: message.url,
      channels: plan.channels,
      detail: message.detail,
      ackDelayMs: message.ackDelayMs,
      connectTimeoutMs: message.connectTimeoutMs,
      dedupe: plan.channels.length > 1,
      recorder: recorders[group],
    });
    clients.push({ client, group, channels: plan.channels });
    connects.push(
      client.connect().then(
        () => {
          if (plan.slow) client.pause();
        },
        () => undefined,
      ),
    );
  }
  await Promise.all(connects);

  const open = clients.filter((entry) => entry.client.isOpen).length;
  send({ type: 'connected', open, failed: clients.length - open, connectPhaseMs: Date.now() - startedAt });
}

function applyPublished(message: WorkerPublishedMessage): void {
  const index = buildMatchIndex(message.indices.map((position) => corpus[position]?.channels ?? []));
  for (const entry of clients) {
    entry.client.counters.matched = countMatched(index, entry.channels);
    if (message.resumeSlow && entry.group === 'slow') entry.client.resume();
  }
  matchedKnown = true;
}

function progress(): void {
  let delivered = 0;
  let open = 0;
  let incomplete = 0;
  for (const { client } of clients) {
    delivered += client.counters.delivered;
    if (!client.isOpen) continue;
    open += 1;
    if (unaccountedEvents(client.counters) > 0) incomplete += 1;
  }
  send({ type: 'progress', delivered, open, incomplete: matchedKnown ? incomplete : -1 });
}

function emptyTotals(recorder: GroupRecorder): GroupTotals {
  return {
    clients: 0,
    open: 0,
    delivered: 0,
    dropped: 0,
    matched: 0,
    batches: 0,
    duplicates: 0,
    reordered: 0,
    seqGaps: 0,
    seqRegressions: 0,
    unbalancedClients: 0,
    unaccountedEvents: 0,
    freshnessMs: recorder.freshnessMs.snapshot(),
    batchEvents: recorder.batchEvents.snapshot(),
    connectMs: recorder.connectMs.snapshot(),
  };
}

function finish(): void {
  // Totals are read before closing, so a client counts as open when it was
  // open at the end of the measurement.
  const groups: Record<ClientGroup, GroupTotals> = {
    readers: emptyTotals(recorders.readers),
    slow: emptyTotals(recorders.slow),
  };
  const unbalanced: UnbalancedClient[] = [];

  for (const [position, entry] of clients.entries()) {
    const totals = groups[entry.group];
    const counters = entry.client.counters;
    totals.clients += 1;
    totals.delivered += counters.delivered;
    totals.dropped += counters.dropped;
    totals.batches += counters.batches;
    totals.duplicates += counters.duplicates;
    totals.reordered += counters.reordered;
    totals.seqGaps += counters.seqGaps;
    totals.seqRegressions += counters.seqRegressions;
    if (!entry.client.isOpen) continue;

    totals.open += 1;
    totals.matched += counters.matched;
    const unaccounted = unaccountedEvents(counters);
    if (unaccounted === 0) continue;

    totals.unbalancedClients += 1;
    totals.unaccountedEvents += unaccounted;
    if (unbalanced.length < MAX_UNBALANCED_LISTED) {
      unbalanced.push({
        worker: workerIndex,
        client: position,
        group: entry.group,
        channels: entry.channels,
        delivered: counters.delivered,
        dropped: counters.dropped,
        matched: counters.matched,
      });
    }
  }

  const closeCodes: Record<string, number> = {};
  for (const { client } of clients) {
    if (client.closeCode !== undefined) closeCodes[client.closeCode] = (closeCodes[client.closeCode] ?? 0) + 1;
    client.terminate();
  }

  const final: WorkerFinalMessage = {
    type: 'final',
    groups,
    errors: { readers: errorLogs.readers.counts, slow: errorLogs.slow.counts },
    errorSamples,
    closeCodes,
    unbalanced,
  };
  process.send?.(final, () => process.exit(0));
}

const progressTimer = setInterval(progress, PROGRESS_INTERVAL_MS);

process.on('message', (message: CoordinatorMessage) => {
  switch (message.type) {
    case 'start':
      start(message).catch((err: unknown) => {
        console.error('load worker failed to start', err);
        process.exit(1);
      });
      return;
    case 'published':
      applyPublished(message);
      return;
    case 'finish':
      clearInterval(progressTimer);
      finish();
      return;
  }
});

// The coordinator's exit closes the IPC channel; the worker must not outlive it.
process.on('disconnect', () => process.exit(0));
