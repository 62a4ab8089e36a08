import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

import type { ScenarioPlan } from '../scenarios/scenario.js';
import type { ClientErrorKind } from './feed-client.js';
import type { Histogram } from './histogram.js';
import type { GeneratorTotals, MergedGroup } from './load-generator.js';
import type { ProcessSample } from './process-sampler.js';
import type { ServerKind, StopOutcome } from './server-under-test.js';
import type { UnbalancedClient } from './worker-messages.js';

type Summary = ReturnType<Histogram['summary']>;

export interface GroupResult {
  clients: number;
  open_at_end: number;
  delivered: number;
  dropped: number;
  matched: number;
  batches: number;
  freshness_ms: Summary;
  batch_events: Summary;
}

/** Everything one scenario run against one server measured, as written to bench/results. */
export interface RunResult {
  scenario: string;
  variant: 'full' | 'smoke';
  server: ServerKind;
  description: string;
  started_at: string;
  plan: ScenarioPlan;
  seed: number;
  /** The server under test as a process: its pid names its --cpu-prof and heap snapshot files. */
  server_process: {
    pid: number;
    /** Node flags from --server-node-args; profiling flags slow the server, so such a run's figures are not comparable. */
    node_args: string[];
    /** `exited`: the server exited after SIGTERM. `killed`: it needed SIGKILL at the stop deadline and wrote no profile. */
    stop: StopOutcome;
    exit_code: number | null;
  };
  environment: {
    node: string;
    platform: string;
    cpu_count: number;
    cpu_model: string;
    total_memory_bytes: number;
    git_commit: string | undefined;
    generator_workers: number;
    note: string;
  };
  connections: {
    requested: number;
    open: number;
    failed: number;
    connect_phase_ms: number;
    connect_ms: Summary;
  };
  publish: { published: number; rate_per_second: number; duration_ms: number };
  delivery: {
    /** Whether every open client had all its matching events delivered or reported dropped. */
    complete: boolean;
    drain_wait_ms: number;
    /** From the first publish to the last delivery, in ms. */
    window_ms: number;
  };
  figures: {
    delivered_events: number;
    delivered_events_per_second: number | null;
    server_cpu_seconds: number;
    server_cpu_seconds_per_million_delivered: number | null;
    freshness_ms: Summary;
    baseline_rss_bytes: number;
    rss_with_connections_bytes: number;
    rss_per_connection_bytes: number | null;
    peak_rss_bytes: number;
    dropped_events: number;
    /** Errors of all clients, except slow clients that the server closed, which slow_clients_closed counts. */
    errors: Partial<Record<ClientErrorKind, number>>;
    error_total: number;
    /** Slow clients that the server closed, as a server may do by design with a client that does not read. */
    slow_clients_closed: number;
  };
  accounting: {
    /** True when delivered + dropped == matched for every client open at the end. */
    balanced: boolean;
    checked_clients: number;
    unbalanced_clients: number;
    unaccounted_events: number;
    duplicates: number;
    reordered: number;
    seq_gaps: number;
    seq_regressions: number;
    examples: UnbalancedClient[];
  };
  groups: { readers: GroupResult; slow: GroupResult };
  close_codes: Record<string, number>;
  error_samples: string[];
  samples: Array<{ t_ms: number; cpu_seconds: number; rss_bytes: number }>;
  heap_samples: Array<{ t_ms: number; heap_used_bytes: number }>;
}

export interface RunMeasurements {
  scenario: string;
  description: string;
  variant: 'full' | 'smoke';
  server: ServerKind;
  startedAtMs: number;
  plan: ScenarioPlan;
  seed: number;
  workers: number;
  serverProcess: { pid: number; nodeArgs: string[]; stop: StopOutcome; exitCode: number | null };
  open: number;
  failed: number;
  connectPhaseMs: number;
  published: number;
  publishDurationMs: number;
  complete: boolean;
  drainWaitMs: number;
  windowMs: number;
  cpuStart: ProcessSample;
  cpuEnd: ProcessSample;
  baseline: ProcessSample;
  withConnections: ProcessSample;
  samples: ProcessSample[];
  heapSamples: Array<{ atMs: number; heapUsedBytes: number }>;
  totals: GeneratorTotals;
}

/** Computes the figures of one run from what the runner measured. */
export function buildRunResult(m: RunMeasurements): RunResult {
  const { readers, slow } = m.totals.groups;
  const delivered = readers.delivered + slow.delivered;
  const cpuSeconds = m.cpuEnd.cpuSeconds - m.cpuStart.cpuSeconds;
  const { closed_by_server: slowClientsClosed = 0, ...slowErrors } = m.totals.errors.slow;
  const errors = mergeCounts(m.totals.errors.readers, slowErrors);
  const errorTotal = Object.values(errors).reduce((sum, count) => sum + (count ?? 0), 0);
  const connectMs = readers.connectMs;
  connectMs.merge(slow.connectMs.snapshot());

  return {
    scenario: m.scenario,
    variant: m.variant,
    server: m.server,
    description: m.description,
    started_at: new Date(m.startedAtMs).toISOString(),
    plan: m.plan,
    seed: m.seed,
    server_process: {
      pid: m.serverProcess.pid,
      node_args: m.serverProcess.nodeArgs,
      stop: m.serverProcess.stop,
      exit_code: m.serverProcess.exitCode,
    },
    environment: {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpu_count: cpus().length,
      cpu_model: cpus()[0]?.model ?? 'unknown',
      total_memory_bytes: totalmem(),
      git_commit: gitCommit(),
      generator_workers: m.workers,
      note: 'The load generator, NATS and the server under test share this machine.',
    },
    connections: {
      requested: m.plan.connections,
      open: m.open,
      failed: m.failed,
      connect_phase_ms: m.connectPhaseMs,
      connect_ms: connectMs.summary(),
    },
    publish: {
      published: m.published,
      rate_per_second: m.plan.publish.kind === 'rate' ? m.plan.publish.ratePerSecond : 0,
      duration_ms: m.publishDurationMs,
    },
    delivery: { complete: m.complete, drain_wait_ms: m.drainWaitMs, window_ms: m.windowMs },
    figures: {
      delivered_events: delivered,
      delivered_events_per_second: m.windowMs > 0 && delivered > 0 ? round((delivered * 1000) / m.windowMs) : null,
      server_cpu_seconds: round(cpuSeconds),
      server_cpu_seconds_per_million_delivered: delivered > 0 ? round((cpuSeconds * 1e6) / delivered) : null,
      freshness_ms: readers.freshnessMs.summary(),
      baseline_rss_bytes: m.baseline.rssBytes,
      rss_with_connections_bytes: m.withConnections.rssBytes,
      rss_per_connection_bytes: rssPerConnection(m),
      peak_rss_bytes: Math.max(...m.samples.map((sample) => sample.rssBytes), m.withConnections.rssBytes),
      dropped_events: readers.dropped + slow.dropped,
      errors,
      error_total: errorTotal,
      slow_clients_closed: slowClientsClosed,
    },
    accounting: {
      balanced: readers.unbalancedClients + slow.unbalancedClients === 0,
      checked_clients: readers.open + slow.open,
      unbalanced_clients: readers.unbalancedClients + slow.unbalancedClients,
      unaccounted_events: readers.unaccountedEvents + slow.unaccountedEvents,
      duplicates: readers.duplicates + slow.duplicates,
      reordered: readers.reordered + slow.reordered,
      seq_gaps: readers.seqGaps + slow.seqGaps,
      seq_regressions: readers.seqRegressions + slow.seqRegressions,
      examples: m.totals.unbalanced,
    },
    groups: { readers: groupResult(readers), slow: groupResult(slow) },
    close_codes: m.totals.closeCodes,
    error_samples: m.totals.errorSamples,
    samples: m.samples.map((sample) => ({
      t_ms: sample.atMs - m.startedAtMs,
      cpu_seconds: sample.cpuSeconds,
      rss_bytes: sample.rssBytes,
    })),
    heap_samples: m.heapSamples.map((sample) => ({ t_ms: sample.atMs - m.startedAtMs, heap_used_bytes: sample.heapUsedBytes })),
  };
}

/**
 * Returns the RSS growth from before connecting to after, per open connection.
 * Null when the RSS did not grow: with few connections, garbage collection
 * between the two samples outweighs the connections, and the difference
 * does not measure them. The raw samples stay in the result.
 */
function rssPerConnection(m: RunMeasurements): number | null {
  const growth = m.withConnections.rssBytes - m.baseline.rssBytes;
  if (m.open === 0 || growth <= 0) return null;
  return Math.round(growth / m.open);
}

function mergeCounts<K extends string>(a: Partial<Record<K, number>>, b: Partial<Record<K, number>>): Partial<Record<K, number>> {
  const merged: Partial<Record<K, number>> = { ...a };
  for (const [key, count] of Object.entries(b) as Array<[K, number]>) merged[key] = (merged[key] ?? 0) + count;
  return merged;
}

function groupResult(group: MergedGroup): GroupResult {
  return {
    clients: group.clients,
    open_at_end: group.open,
    delivered: group.delivered,
    dropped: group.dropped,
    matched: group.matched,
    batches: group.batches,
    freshness_ms: group.freshnessMs.summary(),
    batch_events: group.batchEvents.summary(),
  };
}

/** Writes the result as bench/results/<scenario>-<server>-<timestamp>.json (or under `outDir`) and returns the path. */
export async function writeRunResult(outDir: string, result: RunResult, timestamp: string): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const path = join(outDir, `${result.scenario}-${result.server}-${timestamp}.json`);
  await writeFile(path, `${JSON.stringify(result, null, 2)}\n`);
  return path;
}

/** Formats a date as a file-name-safe UTC timestamp such as 2024-05-01T12-30-00Z. */
export function fileTimestamp(date: Date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-');
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
