import { io as connectSocketIo, type Socket as SocketIoSocket } from 'socket.io-client';
import WebSocket from 'ws';

import {
  applyBatch,
  buildFeedUrl,
  createFeedCounters,
  decodeFrame,
  eventDetail,
  parseFrame,
  type BatchFrame,
  type FeedCounters,
  type FeedDetail,
  type ServerFrame,
} from '../k6/lib/killfeed-protocol.js';
import type { Histogram } from './histogram.js';

/** Transport between a client and the server: a plain WebSocket, or Socket.IO over WebSocket. */
export type ClientTransport = 'ws' | 'socketio';

/** Error kinds a client records, a bounded set for the results. */
export type ClientErrorKind =
  | 'connect_failed'
  | 'connect_timeout'
  | 'closed_by_server'
  | 'error_frame'
  | 'invalid_frame'
  | 'seq_gap'
  | 'wrong_detail';

/** Sink for a client's measurements, shared by the clients of one group in a worker. */
export interface ClientRecorder {
  freshnessMs: Histogram;
  batchEvents: Histogram;
  connectMs: Histogram;
  recordError(kind: ClientErrorKind, detail: string): void;
}

export interface FeedClientOptions {
  transport: ClientTransport;
  /**
   * For `ws`: the feed URL without a query, such as ws://127.0.0.1:8080/v1/feed.
   * For `socketio`: the server's base URL, such as http://127.0.0.1:8081.
   */
  url: string;
  channels: readonly string[];
  /** Detail level requested in the URL; an event of another shape is recorded as a `wrong_detail` error. */
  detail: FeedDetail;
  /** Delay before each ACK, in ms. */
  ackDelayMs: number;
  connectTimeoutMs: number;
  /** Keep a set of recent ids to tell duplicates from reordered events. */
  dedupe: boolean;
  recorder: ClientRecorder;
}

/** Socket.IO event name that carries every v1 frame, as bench/peers/socketio-server.ts sends it. */
const SOCKET_IO_FRAME_EVENT = 'frame';

/**
 * One load-generator connection: it counts what arrives with the shared
 * protocol module, ACKs each numbered batch after the configured delay, and
 * can stop reading its socket so that TCP backpressure builds at the server.
 */
export class FeedClient {
  readonly counters: FeedCounters;
  /** Close code when the server closed the connection, for the results. */
  closeCode: number | undefined;
  private state: 'connecting' | 'open' | 'closed' = 'connecting';
  private closing = false;
  private ws: WebSocket | undefined;
  private socketIo: SocketIoSocket | undefined;

  constructor(private readonly options: FeedClientOptions) {
    this.counters = createFeedCounters({ dedupe: options.dedupe });
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /**
   * Opens the connection and resolves when the welcome frame has arrived.
   * Rejects on a connect error, a close before the welcome, or a timeout,
   * after recording the error.
   */
  connect(): Promise<void> {
    const openedAt = performance.now();

    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        fail('connect_timeout', `no welcome within ${this.options.connectTimeoutMs} ms`);
        this.close();
      }, this.options.connectTimeoutMs);

      let settled = false;
      const fail = (kind: ClientErrorKind, detail: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.state = 'closed';
        this.options.recorder.recordError(kind, detail);
        reject(new Error(`${kind}: ${detail}`));
      };
      const welcome = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.state = 'open';
        this.options.recorder.connectMs.record(performance.now() - openedAt);
        resolve();
      };

      const handleFrame = (frame: ServerFrame): void => {
        if (frame.op === 'welcome') {
          welcome();
          return;
        }
        this.handleFrame(frame);
      };

      const handleClose = (detail: string, code?: number): void => {
        if (!settled) {
          fail('connect_failed', detail);
          return;
        }
        if (this.state === 'closed') return;

        this.state = 'closed';
        this.closeCode = code;
        if (!this.closing) this.options.recorder.recordError('closed_by_server', detail);
      };

      if (this.options.transport === 'ws') {
        this.openWebSocket(handleFrame, handleClose);
      } else {
        this.openSocketIo(handleFrame, handleClose);
      }
    });
  }

  /** Stops reading from the socket, so unread data piles up in the kernel and then at the server. */
  pause(): void {
    if (this.ws !== undefined) {
      this.ws.pause();
      return;
    }

    // NOTE: socket.io-client exposes no pause, so this reaches into
    // engine.io-client's WebSocket transport, which wraps a `ws` socket in Node.
    const transport = this.socketIo?.io.engine?.transport as { ws?: WebSocket } | undefined;
    transport?.ws?.pause();
  }

  resume(): void {
    if (this.ws !== undefined) {
      this.ws.resume();
      return;
    }
    const transport = this.socketIo?.io.engine?.transport as { ws?: WebSocket } | undefined;
    transport?.ws?.resume();
  }

  /** Closes the connection; a later close from the server is not an error. Safe to call twice. */
  close(): void {
    this.closing = true;
    if (this.ws !== undefined) {
      if (this.ws.readyState === WebSocket.CONNECTING) {
        this.ws.terminate();
      } else {
        this.ws.close(1000);
      }
    }
    this.socketIo?.disconnect();
  }

  /**
   * Closes at once without a closing handshake, which a paused socket
   * could not complete.
   */
  terminate(): void {
    this.closing = true;
    this.ws?.terminate();
    this.socketIo?.disconnect();
  }

  private openWebSocket(onFrame: (frame: ServerFrame) => void, onClose: (detail: string, code?: number) => void): void {
    const url = buildFeedUrl(this.options.url, { format: 'json', channels: this.options.channels, detail: this.options.detail });
    const ws = new WebSocket(url, { perMessageDeflate: false });
    this.ws = ws;

    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        onFrame({ op: 'invalid', reason: 'binary frame on a JSON connection' });
        return;
      }
      onFrame(parseFrame(data.toString()));
    });
    ws.on('error', (err) => onClose(err.message));
    ws.on('close', (code, reason) => onClose(`closed with code ${code} ${reason.toString()}`.trim(), code));
  }

  private openSocketIo(onFrame: (frame: ServerFrame) => void, onClose: (detail: string, code?: number) => void): void {
    const socket = connectSocketIo(this.options.url, {
      transports: ['websocket'],
      query: { channels: this.options.channels.join(','), detail: this.options.detail },
      reconnection: false,
      forceNew: true,
      timeout: this.options.connectTimeoutMs,
    });
    this.socketIo = socket;

    socket.on(SOCKET_IO_FRAME_EVENT, (value: unknown) => onFrame(decodeFrame(value)));
    socket.on('connect_error', (err) => onClose(err.message));
    socket.on('disconnect', (reason) => onClose(`disconnected: ${reason}`));
  }

  private handleFrame(frame: ServerFrame): void {
    const recorder = this.options.recorder;

    switch (frame.op) {
      case 'batch': {
        const outcome = applyBatch(this.counters, frame, Date.now());
        for (const value of outcome.freshnessMs) recorder.freshnessMs.record(value);
        recorder.batchEvents.record(outcome.eventCount);
        if (outcome.seqGap > 0) recorder.recordError('seq_gap', `batch ${frame.seq} skipped ${outcome.seqGap} numbers`);
        this.checkDetail(frame);

        const ack = outcome.ack;
        if (ack === undefined) return;
        if (this.options.ackDelayMs > 0) {
          setTimeout(() => this.send(ack), this.options.ackDelayMs);
        } else {
          this.send(ack);
        }
        return;
      }
      case 'error':
        recorder.recordError('error_frame', `${frame.code}: ${frame.message}`);
        return;
      case 'invalid':
        recorder.recordError('invalid_frame', frame.reason);
        return;
      default:
        return;
    }
  }

  /** Records each event whose shape is not the requested detail level, so a server that ignores `detail` shows up in the errors. */
  private checkDetail(frame: BatchFrame): void {
    for (const event of frame.events) {
      const detail = eventDetail(event);
      if (detail === this.options.detail) continue;
      this.options.recorder.recordError('wrong_detail', `event ${event.id} has detail ${detail ?? 'unknown'}, expected ${this.options.detail}`);
    }
  }

  private send(message: string): void {
    if (this.state !== 'open') return;

    if (this.ws !== undefined) {
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(message);
      return;
    }
    this.socketIo?.emit(SOCKET_IO_FRAME_EVENT, JSON.parse(message) as unknown);
  }
}
