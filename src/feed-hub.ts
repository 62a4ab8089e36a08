import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { encodeBatch, encodeControl } from './batch-encoder.js';
import { ChannelIndex } from './channel-index.js';
import { show, parseClientFrame } from './client-message.js';
import { CloseCode, ErrorCode, NoticeCode, type CloseReason, type ErrorCodeValue } from './close-codes.js';
import type { Config } from './config.js';
import { Connection, type Transport } from './connection.js';
import type { Detail, FeedEvent, WireFormat } from './feed-event.js';
import { FlushScheduler } from './flush-scheduler.js';
import type { History } from './history.js';
import type { Metrics } from './metrics.js';

export type ChannelParseResult = { ok: true; channel: string } | { ok: false; code: 'unknown_channel' | 'invalid_channel'; message: string };

export interface FeedHubOptions {
  config: Config;
  metrics: Metrics;
  logger: Logger;
  parseChannel: (raw: string) => ChannelParseResult;
  history: History;
  now?: () => number;
}

/**
 * The fan-out core: routes each event into the rings of the connections
 * that match it, flushes each ring as one batch on that connection's own
 * interval, applies ACKs and flow control, and sends heartbeats. It reaches
 * connections only through their Transport, so it runs the same under
 * uWebSockets.js and in tests.
 */
export class FeedHub {
  /** Minimum flush interval shared by every connection; raised while load shedding. */
  readonly intervalFloor = { ms: 0 };
  latestId = 0;
  /** Past events for resume; replaced when the gateway switches to a JetStream-backed history. */
  history: History;

  private readonly config: Config;
  private readonly metrics: Metrics;
  private readonly logger: Logger;
  private readonly parseChannel: (raw: string) => ChannelParseResult;
  private readonly now: () => number;
  private readonly index = new ChannelIndex<Connection>();
  private readonly connections = new Set<Connection>();
  private readonly scheduler: FlushScheduler<Connection>;
  private readonly sweepTimer: NodeJS.Timeout;
  private stopped = false;

  constructor(options: FeedHubOptions) {
    this.config = options.config;
    this.metrics = options.metrics;
    this.logger = options.logger;
    this.parseChannel = options.parseChannel;
    this.history = options.history;
    this.now = options.now ?? Date.now;
    this.scheduler = new FlushScheduler((connection) => this.flush(connection), 5, 512, this.now);

    // Heartbeats and stall checks need only coarse timing; a quarter of the
    // shorter period keeps both within 25% of their setting.
    const sweepMs = Math.min(1000, Math.max(10, Math.floor(Math.min(this.config.heartbeatMs, this.config.slowConsumerTimeoutMs) / 4)));
    this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
    this.sweepTimer.unref();
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Looks up an open connection by the id sent in its welcome; for diagnostics and tests. */
  findConnection(id: string): Connection | undefined {
    for (const connection of this.connections) if (connection.id === id) return connection;
    return undefined;
  }

  /** Creates a connection's state; the transport attaches when the socket opens. */
  createConnection(format: WireFormat, detail: Detail): Connection {
    return new Connection({
      id: randomUUID(),
      format,
      detail,
      ringCapacity: this.config.ringCapacity,
      interval: {
        budgetMs: this.config.freshnessBudgetMs,
        minMs: this.config.intervalMinMs,
        maxMs: this.config.intervalMaxMs,
        startMs: this.config.intervalStartMs,
      },
      intervalFloor: this.intervalFloor,
      now: this.now(),
    });
  }

  /**
   * Registers an open socket: sends welcome, applies the channels from the
   * URL, then starts a resume when the URL asked for one.
   */
  open(connection: Connection, transport: Transport, initialChannels: readonly string[], since?: number): void {
    connection.transport = transport;
    this.connections.add(connection);
    this.metrics.connections.set(this.connections.size);
    this.metrics.connectionsOpened.inc();

    this.sendControl(connection, {
      op: 'welcome',
      version: 1,
      connection_id: connection.id,
      interval_ms: { min: this.config.intervalMinMs, max: this.config.intervalMaxMs, current: connection.interval.intervalMs },
      ring_capacity: this.config.ringCapacity,
      max_unacked_batches: this.config.maxUnackedBatches,
      heartbeat_ms: this.config.heartbeatMs,
      latest_id: this.latestId,
    });

    if (initialChannels.length > 0) this.subscribe(connection, initialChannels);
    if (since !== undefined) void this.resume(connection, since);
  }

  /** Forgets a closed socket. Safe to call more than once. */
  close(connection: Connection, reason: CloseReason): void {
    if (connection.closed) return;

    connection.closed = true;
    connection.transport = undefined;
    this.scheduler.cancel(connection);
    for (const channel of connection.channels) this.index.remove(channel, connection);
    connection.channels.clear();
    connection.ring.clear();
    this.connections.delete(connection);
    this.metrics.connections.set(this.connections.size);
    this.metrics.connectionsClosed.inc({ reason });
  }

  /**
   * Routes one event to every matching connection. It costs one index
   * lookup per channel of the kill plus O(1) per matching connection. The
   * event is stored by reference and encoded later, once per format and detail.
   */
  publish(event: FeedEvent): void {
    if (this.stopped) return;

    this.latestId = event.id;
    const now = this.now();
    let dropped = 0;

    this.index.match(event.id, event.kill.channels, (connection) => {
      if (event.id <= connection.resumeFloor) return;
      if (connection.enqueue(event)) dropped += 1;
      if (connection.flushDueAt === 0) {
        this.scheduler.schedule(connection, Math.max(now, connection.lastFlushAt + connection.interval.intervalMs));
      }
    });

    if (dropped > 0) this.metrics.eventsDropped.inc(dropped);
  }

  /** Sends the connection's ring as one batch, unless flow control defers it. */
  flush(connection: Connection, final = false): void {
    const transport = connection.transport;
    if (connection.closed || !transport) return;
    if (connection.ring.size === 0) return;
    if (connection.holdFlush && !final) return;

    if (!final && connection.inflightCount >= this.config.maxUnackedBatches) {
      this.metrics.flushesDeferred.inc({ cause: 'window' });
      return;
    }
    if (transport.getBufferedAmount() > this.config.backpressureBytes) {
      this.metrics.flushesDeferred.inc({ cause: 'backpressure' });
      return;
    }

    const intervalMs = connection.interval.intervalMs;
    const now = this.now();
    const batch = connection.takeBatch(now);
    const frame = encodeBatch(batch.seq, batch.dropped, batch.events, connection.format, connection.detail, batch.gap);
    const status = transport.send(frame, connection.format === 'msgpack');

    this.metrics.batchesSent.inc();
    this.metrics.eventsDelivered.inc(batch.events.length);
    this.metrics.batchSizeEvents.observe(batch.events.length);
    this.metrics.batchSizeBytes.observe(frame.length);
    this.metrics.flushInterval.observe(intervalMs / 1000);

    // uWebSockets.js drops a frame only past its own hard backpressure limit,
    // which sits far above ours; a dropped batch would leave a silent gap.
    if (status === 2) this.disconnect(connection, CloseCode.SLOW_CONSUMER, 'slow_consumer', 'slow consumer: send buffer full');
  }

  /** Handles one client frame; the frame's memory is valid only during this call. */
  handleFrame(connection: Connection, data: ArrayBuffer, isBinary: boolean): void {
    if (connection.closed) return;

    if (data.byteLength > this.config.maxFrameBytes) {
      this.violation(connection, ErrorCode.FRAME_TOO_LARGE, `frame of ${data.byteLength} bytes exceeds the limit of ${this.config.maxFrameBytes} bytes`);
      return;
    }

    const parsed = parseClientFrame(data, isBinary, connection.format === 'msgpack');
    if (!parsed.ok) {
      this.violation(connection, parsed.code, parsed.message);
      return;
    }

    const message = parsed.message;
    switch (message.op) {
      case 'sub':
        this.subscribe(connection, message.channels);
        return;
      case 'unsub':
        this.unsubscribe(connection, message.channels);
        return;
      case 'ack':
        this.acknowledge(connection, message.seq);
        return;
      case 'ping':
        this.sendControl(connection, { op: 'pong' });
        return;
      case 'resume':
        void this.resume(connection, message.since);
        return;
    }
  }

  /**
   * Replays the connection's matching events after `since`, then continues
   * live with no gap and no duplicate at the seam. The seam is the latest id
   * when the resume starts: history covers (since, seam], the ring covers
   * what arrives after, and flushing waits until both are merged in order.
   * More matches than the ring capacity leave a counted gap the client can
   * page over HTTP.
   */
  async resume(connection: Connection, since: number): Promise<void> {
    if (connection.closed) return;
    if (connection.holdFlush) {
      this.violation(connection, ErrorCode.RESUME_IN_PROGRESS, `resume from ${since} rejected: a resume is still reading history`);
      return;
    }

    const requestedSince = since;
    // Flushing waits from here until history and live events are merged.
    connection.holdFlush = true;
    const seam = this.latestId;
    connection.resumeFloor = seam;
    // Ring contents up to the seam are part of the replayed range.
    connection.ring.clear();
    connection.droppedSinceBatch = 0;
    const channels = new Set(connection.channels);
    const matches = (event: FeedEvent) => event.kill.channels.some((channel) => channels.has(channel));

    let range;
    try {
      // A since above this replica's latest id is valid only while this
      // replica lags behind the stream; live events up to it are then skipped.
      const newest = Math.max(seam, await this.history.newestRetainedId());
      if (since > newest) {
        this.sendControl(connection, { op: 'error', code: NoticeCode.RESUME_AHEAD, message: `since ${since} is newer than the newest id ${newest}; continuing live after ${seam}`, latest_id: newest });
        since = seam;
      }
      connection.resumeFloor = Math.max(since, seam);
      range = await this.history.range(since, seam, this.config.ringCapacity, matches);
    } catch (err) {
      this.logger.error({ err, connection: connection.id, since }, 'resume failed to read history');
      this.metrics.resumes.inc({ outcome: 'failed' });
      connection.holdFlush = false;
      this.sendControl(connection, { op: 'error', code: NoticeCode.RESUME_FAILED, message: `history could not be read; continuing live after id ${connection.resumeFloor}` });
      if (connection.ring.size > 0) this.scheduleNext(connection, this.now());
      return;
    }
    if (connection.closed) return;

    const from = range.truncatedTo === undefined ? since : range.truncatedTo - 1;
    if (range.truncatedTo !== undefined) {
      this.sendControl(connection, { op: 'error', code: NoticeCode.HISTORY_TRUNCATED, message: `events after ${since} are no longer retained; continuing from the oldest retained id ${range.truncatedTo}`, oldest_id: range.truncatedTo });
    }

    const liveDropped = connection.droppedSinceBatch;
    const floor = connection.resumeFloor;
    const live = connection.ring.drain().filter((event) => event.id > floor);
    const combined = range.events.concat(live);
    const kept = combined.slice(-this.config.ringCapacity);
    for (const event of kept) connection.ring.push(event);
    connection.droppedSinceBatch = range.missed + liveDropped + (combined.length - kept.length);
    if (connection.droppedSinceBatch > 0) {
      connection.pendingGap = { after_id: from, before_id: kept[0]?.id ?? connection.resumeFloor + 1, exact: range.missedExact };
    }
    if (combined.length > kept.length) this.metrics.eventsDropped.inc(combined.length - kept.length);

    let outcome = 'complete';
    if (connection.droppedSinceBatch > 0) outcome = 'gap';
    if (range.truncatedTo !== undefined) outcome = 'truncated';
    this.metrics.resumes.inc({ outcome });
    this.sendControl(connection, { op: 'resumed', since: requestedSince, from_id: from, until_id: seam, replayed: range.events.length, missed: range.missed });
    this.logger.debug({ connection: connection.id, since, seam, replayed: range.events.length, missed: range.missed, outcome }, 'resume served');

    connection.holdFlush = false;
    if (connection.ring.size > 0) this.scheduleNext(connection, this.now());
  }

  /** Resumes flushing after the socket's send buffer drained, which shows the client reads again. */
  handleDrain(connection: Connection): void {
    if (connection.closed || !connection.transport) return;

    const now = this.now();
    connection.lastProgressAt = now;
    if (connection.ring.size > 0 && connection.transport.getBufferedAmount() <= this.config.backpressureBytes) {
      this.scheduleNext(connection, now);
    }
  }

  /** Sets the shared interval floor (0 when not shedding load). */
  setIntervalFloor(ms: number): void {
    this.intervalFloor.ms = ms;
  }

  /** Sends every non-empty ring now, ignoring intervals and the ACK window; used at shutdown. */
  flushAll(): void {
    for (const connection of this.connections) this.flush(connection, true);
  }

  /** Closes every connection with `code`; used at shutdown. */
  closeAll(code: number, message: string, reason: CloseReason): void {
    for (const connection of [...this.connections]) this.disconnect(connection, code, reason, message);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    this.scheduler.stop();
  }

  private subscribe(connection: Connection, rawChannels: readonly string[]): void {
    const invalid = new ChannelProblems();
    let overLimit: string | undefined;

    for (const raw of rawChannels) {
      const parsed = this.parseChannel(raw);
      if (!parsed.ok) {
        invalid.add(parsed.code, parsed.message);
        continue;
      }
      if (connection.channels.has(parsed.channel)) continue;
      if (connection.channels.size >= this.config.maxChannels) {
        overLimit ??= raw;
        continue;
      }

      connection.channels.add(parsed.channel);
      this.index.add(parsed.channel, connection);
    }

    this.reportChannelProblems(connection, invalid);
    if (overLimit !== undefined) {
      this.violation(connection, ErrorCode.TOO_MANY_CHANNELS, `cannot subscribe to ${show(JSON.stringify(overLimit))}: a connection may hold at most ${this.config.maxChannels} channels`);
    }
    if (!connection.closed) this.sendControl(connection, { op: 'subscribed', channels: [...connection.channels] });
  }

  private unsubscribe(connection: Connection, rawChannels: readonly string[]): void {
    const invalid = new ChannelProblems();

    for (const raw of rawChannels) {
      const parsed = this.parseChannel(raw);
      if (!parsed.ok) {
        invalid.add(parsed.code, parsed.message);
        continue;
      }
      if (!connection.channels.delete(parsed.channel)) continue;
      this.index.remove(parsed.channel, connection);
    }

    this.reportChannelProblems(connection, invalid);
    if (!connection.closed) this.sendControl(connection, { op: 'unsubscribed', channels: [...connection.channels] });
  }

  /** Sends one error per code, each listing the channels that had that problem. */
  private reportChannelProblems(connection: Connection, problems: ChannelProblems): void {
    for (const [code, messages] of problems.byCode) {
      if (connection.closed) return;
      this.violation(connection, code === 'unknown_channel' ? ErrorCode.UNKNOWN_CHANNEL : ErrorCode.INVALID_CHANNEL, messages.join('; '));
    }
  }

  private acknowledge(connection: Connection, seq: number): void {
    const now = this.now();
    const latencies = connection.ack(seq, now);
    if (latencies === undefined) {
      this.violation(connection, ErrorCode.INVALID_ACK, `ack for seq ${seq}, but the last batch sent was seq ${connection.seq}`);
      return;
    }

    for (const latency of latencies) this.metrics.ackLatency.observe(latency / 1000);
    if (connection.ring.size > 0) this.scheduleNext(connection, now);
  }

  private scheduleNext(connection: Connection, now: number): void {
    this.scheduler.scheduleIfLater(connection, Math.max(now, connection.lastFlushAt + connection.interval.intervalMs));
  }

  private violation(connection: Connection, code: ErrorCodeValue, message: string): void {
    connection.violations += 1;
    this.metrics.clientErrors.inc({ code });
    this.sendControl(connection, { op: 'error', code, message });
    this.logger.debug({ connection: connection.id, code, violations: connection.violations }, 'client protocol error');

    if (connection.violations >= this.config.maxViolations) {
      this.logger.info({ connection: connection.id, violations: connection.violations, code }, 'connection closed for protocol violations');
      this.disconnect(connection, CloseCode.PROTOCOL_VIOLATION, 'protocol_violation', 'too many protocol errors');
    }
  }

  private sendControl(connection: Connection, message: Record<string, unknown>): void {
    const transport = connection.transport;
    if (connection.closed || !transport) return;

    transport.send(encodeControl(message, connection.format), connection.format === 'msgpack');
  }

  private disconnect(connection: Connection, code: number, reason: CloseReason, message: string): void {
    const transport = connection.transport;
    this.close(connection, reason);
    transport?.end(code, message);
  }

  /** Sends heartbeats to quiet connections and closes stalled ones. */
  private sweep(): void {
    const now = this.now();
    const { heartbeatMs, slowConsumerTimeoutMs, backpressureBytes } = this.config;

    for (const connection of [...this.connections]) {
      const transport = connection.transport;
      if (!transport) continue;

      if (this.isStalled(connection, transport, now, slowConsumerTimeoutMs, backpressureBytes)) {
        this.logger.info({ connection: connection.id, inflight: connection.inflightCount, bufferedBytes: transport.getBufferedAmount() }, 'slow consumer closed');
        this.disconnect(connection, CloseCode.SLOW_CONSUMER, 'slow_consumer', 'slow consumer: no ACK or drain');
        continue;
      }

      if (now - connection.lastBeatAt >= heartbeatMs) {
        connection.lastBeatAt = now;
        this.metrics.heartbeatsSent.inc();
        this.sendControl(connection, { op: 'heartbeat', latest_id: this.latestId });
      }
    }
  }

  /**
   * Returns whether a connection stalled: it owes ACKs or has a full send
   * buffer, and showed no progress (ACK or drain) for the slow-consumer
   * timeout since it started owing.
   */
  private isStalled(connection: Connection, transport: Transport, now: number, timeoutMs: number, backpressureBytes: number): boolean {
    const waiting = connection.oldestInflightSentAt ?? (transport.getBufferedAmount() > backpressureBytes ? connection.lastFlushAt : undefined);
    if (waiting === undefined) return false;

    return now - Math.max(waiting, connection.lastProgressAt) > timeoutMs;
  }
}

/** Channel parse failures of one sub or unsub message, grouped by error code. */
class ChannelProblems {
  readonly byCode = new Map<'unknown_channel' | 'invalid_channel', string[]>();

  add(code: 'unknown_channel' | 'invalid_channel', message: string): void {
    const messages = this.byCode.get(code);
    if (messages) messages.push(message);
    else this.byCode.set(code, [message]);
  }
}
