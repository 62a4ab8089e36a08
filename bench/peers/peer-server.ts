import type { Logger } from 'pino';

import type { Detail } from '../../src/feed-event.js';
import type { Universe } from '../../src/universe.js';

/** Options shared by the comparison servers. */
export interface PeerOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Bind address, 127.0.0.1 unless given. */
  host?: string;
  natsUrl: string;
  universe: Universe;
  logger: Logger;
  /**
   * Detail level of every event the server sends. A client must request the
   * same level with the `detail` query parameter (absent means full), or
   * its connection is rejected.
   */
  detail: Detail;
}

/** A running comparison server. */
export interface PeerServer {
  /** Bound TCP port. */
  port: number;
  /** Closes every connection, the listener and the NATS connection. Safe to call twice. */
  close(): Promise<void>;
}

/** Path of the feed endpoint, the same as the gateway's. */
export const FEED_PATH = '/v1/feed';

/** Path of the Prometheus text endpoint with the heap and RSS gauges. */
export const METRICS_PATH = '/metrics';
