import type { FeedDetail } from '../k6/lib/killfeed-protocol.js';
import type { ClientErrorKind, ClientTransport } from './feed-client.js';
import type { HistogramSnapshot } from './histogram.js';

/** Connection plan of one generator client. */
export interface ClientPlan {
  channels: string[];
  /** Stops reading after the welcome frame, until the coordinator sends `resume`. */
  slow: boolean;
}

/** Client groups that the results report apart. */
export type ClientGroup = 'readers' | 'slow';

export interface WorkerStartMessage {
  type: 'start';
  workerIndex: number;
  transport: ClientTransport;
  url: string;
  /** Detail level that every client requests. */
  detail: FeedDetail;
  clients: ClientPlan[];
  ackDelayMs: number;
  /** Time between two connects of this worker, in ms. 0 connects all at once. */
  connectIntervalMs: number;
  connectTimeoutMs: number;
  /** Path of the corpus, for computing the matched count per client. */
  corpusPath: string;
}

/** Sent after publishing: corpus indices in publish order, for the matched counts. */
export interface WorkerPublishedMessage {
  type: 'published';
  indices: number[];
  /** Whether slow clients start reading again, so that their accounting can be checked. */
  resumeSlow: boolean;
}

export interface WorkerFinishMessage {
  type: 'finish';
}

export type CoordinatorMessage = WorkerStartMessage | WorkerPublishedMessage | WorkerFinishMessage;

export interface WorkerConnectedMessage {
  type: 'connected';
  open: number;
  failed: number;
  /** From this worker's first connect to its last client settling, in ms. */
  connectPhaseMs: number;
}

export interface WorkerProgressMessage {
  type: 'progress';
  delivered: number;
  open: number;
  /** Open clients whose delivered plus dropped is still below matched; -1 before the matched counts are known. */
  incomplete: number;
}

/** Totals of one client group. */
export interface GroupTotals {
  clients: number;
  /** Clients still open at the end. */
  open: number;
  delivered: number;
  dropped: number;
  matched: number;
  batches: number;
  duplicates: number;
  reordered: number;
  seqGaps: number;
  seqRegressions: number;
  /** Open clients whose delivered + dropped differs from matched. */
  unbalancedClients: number;
  /** Sum over open clients of matched − delivered − dropped. */
  unaccountedEvents: number;
  freshnessMs: HistogramSnapshot;
  batchEvents: HistogramSnapshot;
  connectMs: HistogramSnapshot;
}

/** One client whose accounting does not balance, for the results. */
export interface UnbalancedClient {
  worker: number;
  client: number;
  group: ClientGroup;
  channels: string[];
  delivered: number;
  dropped: number;
  matched: number;
}

export interface WorkerFinalMessage {
  type: 'final';
  groups: Record<ClientGroup, GroupTotals>;
  errors: Record<ClientGroup, Partial<Record<ClientErrorKind, number>>>;
  /** The first few error details, for diagnosis. */
  errorSamples: string[];
  closeCodes: Record<string, number>;
  unbalanced: UnbalancedClient[];
}

export type WorkerMessage = WorkerConnectedMessage | WorkerProgressMessage | WorkerFinalMessage;
