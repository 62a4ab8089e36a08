import { DeliverPolicy, jetstream, jetstreamManager, JetStreamApiError, StorageType, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Config } from './config.js';

/** One stored kill message, as read from the stream. */
export interface StoredKill {
  seq: number;
  subject: string;
  data: Uint8Array;
  headers: JsMsg['headers'];
  /** Time the stream stored the message, in ms since epoch. */
  storedAt: number;
}

/** How long a range read waits for messages that are not there (deleted sequences at the range's end). */
const FETCH_EXPIRES_MS = 1_000;

/**
 * The JetStream stream of kill events: opens (or, when configured, creates)
 * the stream, consumes it live with an ordered consumer from "new", and
 * reads stored ranges by sequence for resume and pagination. Stream
 * sequences are the feed's event ids, identical on every replica.
 */
export class KillStream {
  private live: { close(): Promise<void | Error> } | undefined;

  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly name: string,
    private readonly logger: Logger,
  ) {}

  /** Returns whether the server offers JetStream to this account. */
  static async available(nc: NatsConnection): Promise<boolean> {
    try {
      await jetstreamManager(nc, { checkAPI: true });
      return true;
    } catch {
      return false;
    }
  }

  static async open(nc: NatsConnection, config: Config, logger: Logger): Promise<KillStream> {
    const jsm = await jetstreamManager(nc);
    const name = config.streamName;

    try {
      const info = await jsm.streams.info(name);
      logger.info({ stream: name, subjects: info.config.subjects, messages: info.state.messages, firstSeq: info.state.first_seq, lastSeq: info.state.last_seq }, 'stream opened');
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.status !== 404) throw err;
      if (!config.streamCreate) {
        throw new Error(`JetStream stream ${name} not found; create it, set KILLFEED_STREAM_CREATE=true, or set KILLFEED_NATS_MODE=core`, { cause: err });
      }

      await jsm.streams.add({
        name,
        subjects: [config.natsSubject],
        storage: StorageType.File,
        max_age: nanos(config.streamMaxAgeS * 1000),
        max_bytes: config.streamMaxBytes,
        duplicate_window: nanos(config.streamDuplicateWindowS * 1000),
      });
      logger.info({ stream: name, subjects: [config.natsSubject], maxAgeS: config.streamMaxAgeS, maxBytes: config.streamMaxBytes, duplicateWindowS: config.streamDuplicateWindowS }, 'stream created');
    }

    return new KillStream(jetstream(nc), jsm, name, logger);
  }

  /** First and last stored sequence; first > last when the stream is empty. */
  async bounds(): Promise<{ firstSeq: number; lastSeq: number }> {
    const info = await this.jsm.streams.info(this.name);
    return { firstSeq: info.state.first_seq, lastSeq: info.state.last_seq };
  }

  /**
   * Consumes messages from `fromSeq` on, in stream order, until stop(). The ordered consumer
   * recreates itself after a reconnect at the next sequence, so no message
   * is skipped or repeated.
   */
  async consume(fromSeq: number, onMessage: (message: StoredKill) => void): Promise<void> {
    // Starting at an explicit sequence read just before, rather than at "new",
    // leaves no window in which a message is stored but never consumed.
    const consumer = await this.js.consumers.get(this.name, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq });
    const messages = await consumer.consume();
    this.live = messages;

    void (async () => {
      try {
        for await (const message of messages) onMessage(toStoredKill(message));
      } catch (err) {
        this.logger.error({ err, stream: this.name }, 'stream consumer failed');
      }
    })();
  }

  /**
   * Reads stored messages with startSeq ≤ seq ≤ endSeq, in order, at most
   * `maxMessages` of them. Deleted sequences are skipped by the server.
   */
  async read(startSeq: number, endSeq: number, maxMessages: number): Promise<StoredKill[]> {
    if (maxMessages <= 0 || endSeq < startSeq) return [];

    const consumer = await this.js.consumers.get(this.name, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, startSeq) });
    const result: StoredKill[] = [];
    try {
      const messages = await consumer.fetch({ max_messages: maxMessages, expires: FETCH_EXPIRES_MS });
      for await (const message of messages) {
        if (message.seq > endSeq) break;
        result.push(toStoredKill(message));
        if (result.length >= maxMessages || message.seq >= endSeq) break;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    return result;
  }

  async stop(): Promise<void> {
    await this.live?.close();
    this.live = undefined;
  }
}

function toStoredKill(message: JsMsg): StoredKill {
  return { seq: message.seq, subject: message.subject, data: message.data, headers: message.headers, storedAt: message.time.getTime() };
}
