import { unpack } from 'msgpackr';
import WebSocket from 'ws';

export type ServerMessage = Record<string, unknown> & { op: string };

export interface FeedClientOptions {
  /** ACK every batch as soon as it arrives. */
  autoAck?: boolean;
  /** Do not read from the socket at all (TCP backpressure builds up). */
  paused?: boolean;
}

/**
 * A real WebSocket client for tests: records every server message in order
 * and lets a test await the next message matching a predicate.
 */
export class FeedClient {
  readonly messages: ServerMessage[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private readonly waiters: Array<() => void> = [];
  private constructor(readonly ws: WebSocket) {}

  static async connect(url: string, options: FeedClientOptions = {}): Promise<FeedClient> {
    const ws = new WebSocket(url);
    const client = new FeedClient(ws);

    ws.on('message', (data: Buffer, isBinary) => {
      const message = (isBinary ? unpack(data) : JSON.parse(data.toString('utf8'))) as ServerMessage;
      client.messages.push(message);
      if (options.autoAck && message.op === 'batch') ws.send(JSON.stringify({ op: 'ack', seq: message.seq }));
      client.wake();
    });
    ws.on('close', (code, reason) => {
      client.closeCode = code;
      client.closeReason = reason.toString();
      client.wake();
    });

    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade rejected with HTTP ${res.statusCode}`)));
    });
    if (options.paused) (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    return client;
  }

  send(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  /** Resolves with the first recorded message after index `from` that matches. */
  async waitFor(predicate: (message: ServerMessage) => boolean, timeoutMs = 10_000, from = 0): Promise<ServerMessage> {
    await this.waitUntil(() => this.messages.slice(from).some(predicate), timeoutMs, 'a matching message');
    return this.messages.slice(from).find(predicate) as ServerMessage;
  }

  waitForOp(op: string, timeoutMs = 10_000, from = 0): Promise<ServerMessage> {
    return this.waitFor((message) => message.op === op, timeoutMs, from);
  }

  /** Resolves when `condition` holds, re-checking on each message or close. */
  async waitUntil(condition: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last messages: ${JSON.stringify(this.messages.slice(-3)).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(remaining, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async waitForClose(timeoutMs = 10_000): Promise<number> {
    await this.waitUntil(() => this.closeCode !== undefined, timeoutMs, 'close');
    return this.closeCode as number;
  }

  batches(): ServerMessage[] {
    return this.messages.filter((message) => message.op === 'batch');
  }

  /** Returns every event received in batches, in arrival order. */
  events(): Array<Record<string, unknown>> {
    return this.batches().flatMap((batch) => batch.events as Array<Record<string, unknown>>);
  }

  /** Starts reading again after `paused`. */
  resume(): void {
    (this.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
