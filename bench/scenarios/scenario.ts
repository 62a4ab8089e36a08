import type { FeedDetail } from '../k6/lib/killfeed-protocol.js';

/** Parameters of one scenario run, the same shape for the `full` and `smoke` variants. */
export interface ScenarioPlan {
  connections: number;
  /** Detail level that every client requests and every server sends. */
  detail: FeedDetail;
  /** `all`: every client on all:*. `filtered`: 1–3 alliance, system or region channels per client. */
  channelMix: 'all' | 'filtered';
  /** Share of clients that stop reading after the welcome frame, from 0 to 1. */
  slowShare: number;
  /** Whether the slow clients read again once publishing ends, so that their accounting is checked too. */
  resumeSlow: boolean;
  ackDelayMs: number;
  /** Window in ms over which all clients connect. */
  connectWithinMs: number;
  publish: PublishStep;
  /** For `idle`: seconds to hold the connections open without publishing. */
  holdSeconds: number;
  /** Interval of CPU and RSS samples of the server, in ms. */
  sampleIntervalMs: number;
  /** Whether to sample nodejs_heap_size_used_bytes from the server's /metrics. */
  sampleHeap: boolean;
  /** Maximum wait in ms for the last events after publishing ends. */
  drainMaxMs: number;
}

export type PublishStep =
  | {
      kind: 'rate';
      ratePerSecond: number;
      durationSeconds: number;
      /** Corpus position to start at: the first kill, or a window centred on a time. */
      start: { kind: 'first' } | { kind: 'around'; time: string };
    }
  | { kind: 'none' };

export interface Scenario {
  name: string;
  /** One line for `--help` and the results. */
  description: string;
  full: ScenarioPlan;
  /** A tiny version for CI: at most a few hundred connections and seconds. */
  smoke: ScenarioPlan;
}

/** Defaults that most scenarios share. */
export const BASE_PLAN: ScenarioPlan = {
  connections: 5000,
  // Over the corpus, a full event averages 2.2 KB of JSON and a summary event
  // 0.45 KB. On a machine with few cores the generator's parsing of full
  // events competes with the server for CPU, so summary is the default.
  detail: 'summary',
  channelMix: 'all',
  slowShare: 0,
  resumeSlow: false,
  ackDelayMs: 0,
  connectWithinMs: 10_000,
  publish: { kind: 'rate', ratePerSecond: 50, durationSeconds: 60, start: { kind: 'first' } },
  holdSeconds: 0,
  sampleIntervalMs: 1000,
  sampleHeap: false,
  drainMaxMs: 60_000,
};

/** Defaults of the smoke variants: 50 connections, 5 s of publishing. */
export const SMOKE_PLAN: ScenarioPlan = {
  ...BASE_PLAN,
  connections: 50,
  connectWithinMs: 500,
  publish: { kind: 'rate', ratePerSecond: 50, durationSeconds: 5, start: { kind: 'first' } },
  sampleIntervalMs: 500,
  drainMaxMs: 15_000,
};
