import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import type { FeedDetail } from '../k6/lib/killfeed-protocol.js';
import type { ClientErrorKind, ClientTransport } from './feed-client.js';
import { Histogram } from './histogram.js';
import type {
  ClientGroup,
  ClientPlan,
  CoordinatorMessage,
  GroupTotals,
  UnbalancedClient,
  WorkerFinalMessage,
  WorkerMessage,
  WorkerProgressMessage,
} from './worker-messages.js';

const WORKER_PATH = fileURLToPath(new URL('./load-worker.ts', import.meta.url));

export interface LoadPlan {
  transport: ClientTransport;
  url: string;
  /** Detail level that every client requests. */
  detail: FeedDetail;
  clients: ClientPlan[];
  ackDelayMs: number;
  /** Window in ms over which all clients connect, evenly spaced. 0 connects them all at once. */
  connectWithinMs: number;
  connectTimeoutMs: number;
  /** Generator processes; each runs its own event loop. */
  workers: number;
  corpusPath: string;
}

/** Totals of one client group over all workers, with merged histograms. */
export interface MergedGroup extends Omit<GroupTotals, 'freshnessMs' | 'batchEvents' | 'connectMs'> {
  freshnessMs: Histogram;
  batchEvents: Histogram;
  connectMs: Histogram;
}

export interface GeneratorTotals {
  groups: Record<ClientGroup, MergedGroup>;
  errors: Record<ClientGroup, Partial<Record<ClientErrorKind, number>>>;
  errorSamples: string[];
  closeCodes: Record<string, number>;
  unbalanced: UnbalancedClient[];
}

export interface DrainOutcome {
  /** True when every open client had received every matching event or had it reported as dropped. */
  complete: boolean;
  waitedMs: number;
  /** When the delivered count last grew, in ms since the epoch: the end of the delivery window. */
  lastProgressAtMs: number;
}

interface WorkerHandle {
  child: ChildProcess;
  progress: WorkerProgressMessage | undefined;
  final: WorkerFinalMessage | undefined;
}

/**
 * The coordinator side of the load generator: forks worker processes, hands
 * each its share of the clients, and merges what they report. Workers run as
 * processes with their own event loops, so the generator is less likely to
 * be the bottleneck. On a machine with few cores it still competes with the
 * server under test for CPU.
 */
export class LoadGenerator {
  /** Clients that received their welcome frame. */
  open = 0;
  failed = 0;
  /** Maximum over the workers of the time from their first connect to their last client settling, in ms. */
  connectPhaseMs = 0;

  private constructor(private readonly workers: WorkerHandle[]) {}

  static async start(plan: LoadPlan): Promise<LoadGenerator> {
    const workerCount = Math.max(1, Math.min(plan.workers, plan.clients.length));
    const shares: ClientPlan[][] = Array.from({ length: workerCount }, () => []);
    for (const [index, client] of plan.clients.entries()) shares[index % workerCount]?.push(client);

    const handles: WorkerHandle[] = shares.map(() => ({
      child: fork(WORKER_PATH, [], { execArgv: ['--import', 'tsx'], serialization: 'advanced', stdio: 'inherit' }),
      progress: undefined,
      final: undefined,
    }));
    const generator = new LoadGenerator(handles);

    const connected = handles.map((handle, workerIndex) => {
      const share = shares[workerIndex] ?? [];
      return new Promise<void>((resolve, reject) => {
        handle.child.on('message', (message: WorkerMessage) => {
          if (message.type === 'connected') {
            generator.open += message.open;
            generator.failed += message.failed;
            generator.connectPhaseMs = Math.max(generator.connectPhaseMs, message.connectPhaseMs);
            resolve();
          } else if (message.type === 'progress') {
            handle.progress = message;
          } else {
            handle.final = message;
          }
        });
        handle.child.once('exit', (code) => reject(new Error(`load worker ${workerIndex} exited with code ${code}`)));

        const start: CoordinatorMessage = {
          type: 'start',
          workerIndex,
          transport: plan.transport,
          url: plan.url,
          detail: plan.detail,
          clients: share,
          ackDelayMs: plan.ackDelayMs,
          connectIntervalMs: share.length > 1 ? plan.connectWithinMs / share.length : 0,
          connectTimeoutMs: plan.connectTimeoutMs,
          corpusPath: plan.corpusPath,
        };
        handle.child.send(start);
      });
    });

    try {
      await Promise.all(connected);
    } catch (err) {
      generator.kill();
      throw err;
    }
    return generator;
  }

  /** Sends the published corpus indices, from which each worker computes its clients' matched counts. */
  published(indices: number[], resumeSlow: boolean): void {
    for (const { child } of this.workers) child.send({ type: 'published', indices, resumeSlow } satisfies CoordinatorMessage);
  }

  /** Events delivered so far over all workers, from their latest progress report. */
  delivered(): number {
    return this.workers.reduce((sum, handle) => sum + (handle.progress?.delivered ?? 0), 0);
  }

  /**
   * Waits until every open client has received every matching event or had
   * it reported as dropped, until nothing new has arrived for `quietMs`, or until
   * `maxMs` has passed. Call after published().
   */
  async waitForDelivery(quietMs: number, maxMs: number): Promise<DrainOutcome> {
    const startedAt = Date.now();
    let lastDelivered = -1;
    let lastChangeAt = startedAt;

    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const now = Date.now();

      const reports = this.workers.map((handle) => handle.progress);
      const known = reports.every((report) => report !== undefined && report.incomplete >= 0);
      const delivered = this.delivered();
      if (delivered !== lastDelivered) {
        lastDelivered = delivered;
        lastChangeAt = now;
      }

      const outcome = { waitedMs: now - startedAt, lastProgressAtMs: lastChangeAt };
      if (known && reports.every((report) => report?.incomplete === 0)) return { complete: true, ...outcome };
      if (now - lastChangeAt >= quietMs || now - startedAt >= maxMs) return { complete: false, ...outcome };
    }
  }

  /** Asks every worker for its totals, closes all clients and merges the totals. */
  async finish(): Promise<GeneratorTotals> {
    const finals = await Promise.all(
      this.workers.map(
        (handle, workerIndex) =>
          new Promise<WorkerFinalMessage>((resolve, reject) => {
            // 'close' fires after the IPC channel has closed, so the final message has been handled.
            handle.child.once('close', (code) => {
              if (handle.final !== undefined) {
                resolve(handle.final);
              } else {
                reject(new Error(`load worker ${workerIndex} exited with code ${code} before sending its totals`));
              }
            });
            handle.child.send({ type: 'finish' } satisfies CoordinatorMessage);
          }),
      ),
    );
    return mergeFinals(finals);
  }

  /** Kills every worker at once, for error paths. */
  kill(): void {
    for (const { child } of this.workers) {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }
}

function emptyGroup(): MergedGroup {
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
    freshnessMs: new Histogram(),
    batchEvents: new Histogram(),
    connectMs: new Histogram(),
  };
}

const COUNT_FIELDS = [
  'clients',
  'open',
  'delivered',
  'dropped',
  'matched',
  'batches',
  'duplicates',
  'reordered',
  'seqGaps',
  'seqRegressions',
  'unbalancedClients',
  'unaccountedEvents',
] as const;

function mergeFinals(finals: WorkerFinalMessage[]): GeneratorTotals {
  const totals: GeneratorTotals = {
    groups: { readers: emptyGroup(), slow: emptyGroup() },
    errors: { readers: {}, slow: {} },
    errorSamples: [],
    closeCodes: {},
    unbalanced: [],
  };

  for (const final of finals) {
    for (const group of ['readers', 'slow'] as const) {
      const merged = totals.groups[group];
      const part = final.groups[group];
      for (const field of COUNT_FIELDS) merged[field] += part[field];
      merged.freshnessMs.merge(part.freshnessMs);
      merged.batchEvents.merge(part.batchEvents);
      merged.connectMs.merge(part.connectMs);

      const errors = totals.errors[group];
      for (const [kind, count] of Object.entries(final.errors[group]) as Array<[ClientErrorKind, number]>) {
        errors[kind] = (errors[kind] ?? 0) + count;
      }
    }

    for (const [code, count] of Object.entries(final.closeCodes)) {
      totals.closeCodes[code] = (totals.closeCodes[code] ?? 0) + count;
    }
    totals.errorSamples.push(...final.errorSamples);
    totals.unbalanced.push(...final.unbalanced);
  }

  return totals;
}
