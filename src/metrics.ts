import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CLOSE_REASONS, ERROR_CODES } from './close-codes.js';

/**
 * The gateway's Prometheus metrics. Every name starts with `killfeed_` and
 * ends in its unit; no label carries an unbounded value (no connection,
 * channel or entity id).
 */
export class Metrics {
  readonly registry = new Registry();

  readonly connections = new Gauge({ name: 'killfeed_connections', help: 'Open WebSocket connections.', registers: [this.registry] });
  readonly connectionsOpened = new Counter({ name: 'killfeed_connections_opened_total', help: 'WebSocket connections accepted.', registers: [this.registry] });
  readonly connectionsClosed = new Counter({ name: 'killfeed_connections_closed_total', help: 'WebSocket connections closed, by reason.', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly upgradesRejected = new Counter({ name: 'killfeed_upgrades_rejected_total', help: 'WebSocket upgrade requests rejected, by reason.', labelNames: ['reason'] as const, registers: [this.registry] });

  readonly eventsReceived = new Counter({ name: 'killfeed_events_received_total', help: 'Kill events accepted from NATS.', registers: [this.registry] });
  readonly eventsRejected = new Counter({ name: 'killfeed_events_rejected_total', help: 'NATS messages skipped as invalid, by reason.', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly eventsDuplicate = new Counter({ name: 'killfeed_events_duplicate_total', help: 'Kill events skipped because their killmail_id was seen within the deduplication window.', registers: [this.registry] });
  readonly eventsDelivered = new Counter({ name: 'killfeed_events_delivered_total', help: 'Events written to clients inside batches (one per connection per event).', registers: [this.registry] });
  readonly eventsDropped = new Counter({ name: 'killfeed_events_dropped_total', help: 'Matching events evicted from a full connection ring before delivery.', registers: [this.registry] });

  readonly batchesSent = new Counter({ name: 'killfeed_batches_sent_total', help: 'Batch frames sent.', registers: [this.registry] });
  readonly batchSizeEvents = new Histogram({ name: 'killfeed_batch_size_events', help: 'Events per batch frame.', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500], registers: [this.registry] });
  readonly batchSizeBytes = new Histogram({ name: 'killfeed_batch_size_bytes', help: 'Bytes per batch frame.', buckets: [512, 2048, 8192, 32_768, 131_072, 524_288, 2_097_152], registers: [this.registry] });
  readonly flushesDeferred = new Counter({ name: 'killfeed_flushes_deferred_total', help: 'Due flushes held back, by cause (window of unacknowledged batches full, or socket backpressure).', labelNames: ['cause'] as const, registers: [this.registry] });
  readonly heartbeatsSent = new Counter({ name: 'killfeed_heartbeats_sent_total', help: 'Heartbeat frames sent to quiet connections.', registers: [this.registry] });

  readonly ackLatency = new Histogram({ name: 'killfeed_ack_latency_seconds', help: 'Time from sending a batch to receiving its ACK.', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] });
  readonly flushInterval = new Histogram({ name: 'killfeed_flush_interval_seconds', help: 'Flush interval in effect for a connection at each batch it is sent.', buckets: [0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1], registers: [this.registry] });
  readonly flushIntervalFloor = new Gauge({ name: 'killfeed_flush_interval_floor_seconds', help: 'Minimum flush interval for every connection; raised while load shedding.', registers: [this.registry] });

  readonly eventLoopLag = new Gauge({ name: 'killfeed_event_loop_lag_seconds', help: 'p99 event-loop delay over the last sampling window.', registers: [this.registry] });
  readonly loadShedding = new Gauge({ name: 'killfeed_load_shedding', help: '1 while the minimum flush interval is raised because the event loop lags, else 0.', registers: [this.registry] });

  readonly resumes = new Counter({ name: 'killfeed_resumes_total', help: 'Resume requests served, by outcome (complete, gap, truncated, failed).', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly historyRequests = new Counter({ name: 'killfeed_history_requests_total', help: 'History page requests, by HTTP status class.', labelNames: ['status'] as const, registers: [this.registry] });
  readonly clientErrors = new Counter({ name: 'killfeed_client_errors_total', help: 'Protocol errors sent to clients, by code.', labelNames: ['code'] as const, registers: [this.registry] });

  readonly natsConnected = new Gauge({ name: 'killfeed_nats_connected', help: '1 while the NATS connection is up, else 0.', registers: [this.registry] });
  readonly natsReconnects = new Counter({ name: 'killfeed_nats_reconnects_total', help: 'NATS reconnections.', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'killfeed_' });

    for (const reason of CLOSE_REASONS) this.connectionsClosed.inc({ reason }, 0);
    for (const code of ERROR_CODES) this.clientErrors.inc({ code }, 0);
    for (const cause of ['window', 'backpressure']) this.flushesDeferred.inc({ cause }, 0);
  }

  /** Pre-creates the rejected-events series so dashboards see zeros, not gaps. */
  initRejectReasons(reasons: readonly string[]): void {
    for (const reason of reasons) this.eventsRejected.inc({ reason }, 0);
  }
}
