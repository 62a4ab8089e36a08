import { createReadStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { pipeline, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGunzip } from 'node:zlib';

import { headers, type NatsConnection } from '@nats-io/transport-node';
import { Packr } from 'msgpackr';
import type { Logger } from 'pino';

import { killFromValue } from './kill-decoder.js';
import type { Kill } from './kill.js';
import type { Universe } from './universe.js';
import { MESSAGE_ID_HEADER, PUBLISHED_AT_HEADER } from './ingest-headers.js';

export { MESSAGE_ID_HEADER, PUBLISHED_AT_HEADER };

export const DEFAULT_SUBJECT_PREFIX = 'kills';

/** Region token of the subject when the universe map lacks the kill's system. */
export const UNKNOWN_REGION_TOKEN = 'unknown';

export interface ReplayOptions {
  nc: NatsConnection;
  /** JSON Lines file, one ESI killmail or R2Z2 package a line; gzip-compressed when the name ends in `.gz`. */
  file: string;
  universe: Universe;
  /** First subject token; messages go to `<prefix>.<region_id>.<solar_system_id>`. Default `kills`. */
  subjectPrefix?: string;
  /**
   * Replays the corpus's own killmail_time gaps divided by this factor (2
   * replays twice as fast as recorded). The default pacing is speed 1.
   */
  speed?: number;
  /** Fixed publish rate in kills per second. Cannot be combined with speed. */
  rate?: number;
  /** Maximum number of kills to publish, across all passes. */
  limit?: number;
  /**
   * Starts over at the end of the file until the limit or the signal stops
   * the replay. Passes after the first append `-<pass>` to Nats-Msg-Id so
   * JetStream does not drop them as duplicates. The payloads repeat
   * unchanged, killmail_id included.
   */
  loop?: boolean;
  /** Payload encoding; `json` publishes each line byte for byte. Default `json`. */
  format?: 'json' | 'msgpack';
  /** Stops the replay; replayCorpus then flushes and resolves normally. */
  signal?: AbortSignal;
  logger: Logger;
  /** Called after each publish with the number of kills published so far. */
  onPublished?: (published: number) => void;
}

export interface ReplayResult {
  published: number;
  /** Lines that were not a valid killmail, counted on every pass. */
  skipped: number;
  durationMs: number;
}

/** Invalid lines logged one by one per replay; later ones are only counted. */
const MAX_LOGGED_SKIPS = 10;

/**
 * A kill due within this many ms is published now. Timers cannot wait less
 * than about 1 ms, so at high rates each timer tick publishes a small burst.
 */
const EARLY_PUBLISH_MS = 1;

/** Publishes between flushes. Each flush waits for the server, which bounds the client's outbound buffer. */
const FLUSH_INTERVAL = 1000;

const SUBJECT_PREFIX_PATTERN = /^[^\s.*>]+(\.[^\s.*>]+)*$/;

/**
 * Publishes a killmail corpus to NATS, one message per line, paced by
 * speed or rate. Each kill is scheduled relative to the first one, so a slow
 * publish or a late timer is caught up instead of delaying every later kill.
 *
 * Each message carries `Content-Type`, `Nats-Msg-Id` (the killmail_id) and
 * `Killfeed-Published-At`. Lines that are not valid killmails are counted,
 * logged and skipped; blank lines are ignored. Rejects with a RangeError on
 * invalid options, and with the underlying error when the file cannot be
 * read or a publish fails.
 */
export async function replayCorpus(options: ReplayOptions): Promise<ReplayResult> {
  const run = new ReplayRun(options);
  return run.run();
}

interface ParsedLine {
  /** The line as JSON.parse returned it, encoded again for the msgpack format. */
  value: unknown;
  kill: Kill;
}

class ReplayRun {
  private readonly nc: NatsConnection;
  private readonly file: string;
  private readonly universe: Universe;
  private readonly subjectPrefix: string;
  private readonly speed: number | undefined;
  private readonly rate: number | undefined;
  private readonly limit: number;
  private readonly limitOption: number | undefined;
  private readonly loop: boolean;
  private readonly format: 'json' | 'msgpack';
  private readonly signal: AbortSignal | undefined;
  private readonly logger: Logger;
  private readonly onPublished: ((published: number) => void) | undefined;
  private readonly packr = new Packr({ useRecords: false });

  private startMs = 0;
  /** When the first kill was due: the origin of the schedule, so opening the file does not delay the rest. */
  private scheduleStartMs: number | undefined;
  private published = 0;
  private skipped = 0;

  /** Speed pacing: corpus time elapsed before the current pass, and the first killmail_time of the pass. */
  private passBaseMs = 0;
  private passFirstTimeMs: number | undefined;
  private corpusElapsedMs = 0;

  constructor(options: ReplayOptions) {
    validateOptions(options);

    this.nc = options.nc;
    this.file = options.file;
    this.universe = options.universe;
    this.subjectPrefix = options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX;
    this.rate = options.rate;
    this.speed = options.rate === undefined ? (options.speed ?? 1) : undefined;
    this.limitOption = options.limit;
    this.limit = options.limit ?? Number.POSITIVE_INFINITY;
    this.loop = options.loop ?? false;
    this.format = options.format ?? 'json';
    this.signal = options.signal;
    this.logger = options.logger;
    this.onPublished = options.onPublished;
  }

  async run(): Promise<ReplayResult> {
    this.startMs = performance.now();
    this.logger.info(
      { file: this.file, format: this.format, speed: this.speed, rate: this.rate, limit: this.limitOption, loop: this.loop },
      'replay started',
    );

    for (let pass = 1; this.canContinue(); pass++) {
      const publishedBefore = this.published;
      await this.replayPass(pass);

      if (!this.loop) break;
      if (this.published === publishedBefore) {
        this.logger.warn({ file: this.file, pass }, 'replay stopped looping because a pass published no kills');
        break;
      }
      this.passBaseMs = this.corpusElapsedMs;
      this.passFirstTimeMs = undefined;
    }

    await this.nc.flush();

    const result = { published: this.published, skipped: this.skipped, durationMs: performance.now() - this.startMs };
    this.logger.info({ file: this.file, ...result, aborted: this.signal?.aborted ?? false }, 'replay finished');
    return result;
  }

  private canContinue(): boolean {
    return this.published < this.limit && this.signal?.aborted !== true;
  }

  private async replayPass(pass: number): Promise<void> {
    const raw = createReadStream(this.file);
    const input: Readable = this.file.endsWith('.gz') ? pipeline(raw, createGunzip(), () => {}) : raw;
    const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });

    try {
      let lineNumber = 0;
      for await (const line of lines) {
        lineNumber += 1;
        if (!this.canContinue()) break;
        if (line.trim() === '') continue;

        const parsed = this.parseLine(line, lineNumber, pass);
        if (parsed === undefined) continue;

        const due = await this.waitUntilDue(parsed.kill);
        if (!due) break;

        this.publish(line, parsed, pass);
        if (this.published % FLUSH_INTERVAL === 0) await this.nc.flush();
      }
    } finally {
      lines.close();
      raw.destroy();
    }
  }

  private parseLine(line: string, lineNumber: number, pass: number): ParsedLine | undefined {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      this.skip(lineNumber, pass, 'invalid_json', (err as Error).message);
      return undefined;
    }

    const result = killFromValue(value, this.universe);
    if (!result.ok) {
      this.skip(lineNumber, pass, result.reason, result.message);
      return undefined;
    }
    return { value, kill: result.kill };
  }

  private skip(lineNumber: number, pass: number, reason: string, message: string): void {
    this.skipped += 1;
    if (this.skipped <= MAX_LOGGED_SKIPS) {
      this.logger.warn({ file: this.file, line: lineNumber, pass, reason, message }, 'replay line skipped');
    }
    if (this.skipped === MAX_LOGGED_SKIPS) {
      this.logger.warn({ file: this.file, maxLogged: MAX_LOGGED_SKIPS }, 'replay skipped lines no longer logged');
    }
  }

  /** Waits until the kill is due. Returns false when the signal aborted the wait. */
  private async waitUntilDue(kill: Kill): Promise<boolean> {
    const offsetMs = this.advanceSchedule(kill);
    this.scheduleStartMs ??= performance.now();
    const delayMs = this.scheduleStartMs + offsetMs - performance.now();
    if (delayMs <= EARLY_PUBLISH_MS) return true;

    try {
      await sleep(delayMs, undefined, { signal: this.signal });
      return true;
    } catch (err) {
      if ((err as Error).name === 'AbortError') return false;
      throw err;
    }
  }

  /** Advances the corpus clock to the kill and returns when the kill is due, in ms after the first kill. */
  private advanceSchedule(kill: Kill): number {
    if (this.rate !== undefined) return (this.published * 1000) / this.rate;

    // killFromValue validated killmail_time, so it parses.
    const timeMs = Date.parse(kill.killmail.killmail_time);
    this.passFirstTimeMs ??= timeMs;
    // The corpus clock never runs backwards. A kill recorded earlier than the
    // one before it is due at once, and the next pass cannot start early.
    this.corpusElapsedMs = Math.max(this.corpusElapsedMs, this.passBaseMs + timeMs - this.passFirstTimeMs);
    return this.corpusElapsedMs / (this.speed ?? 1);
  }

  private publish(line: string, { value, kill }: ParsedLine, pass: number): void {
    const systemId = kill.killmail.solar_system_id;
    const regionToken = kill.summary.region_id ?? UNKNOWN_REGION_TOKEN;
    const subject = `${this.subjectPrefix}.${regionToken}.${systemId}`;

    const messageHeaders = headers();
    messageHeaders.set('Content-Type', this.format === 'json' ? 'application/json' : 'application/msgpack');
    messageHeaders.set(MESSAGE_ID_HEADER, pass === 1 ? String(kill.killmailId) : `${kill.killmailId}-${pass}`);

    const payload = this.format === 'json' ? line : this.packr.pack(value);
    messageHeaders.set(PUBLISHED_AT_HEADER, String(Date.now()));
    this.nc.publish(subject, payload, { headers: messageHeaders });

    this.published += 1;
    this.onPublished?.(this.published);
  }
}

function validateOptions(options: ReplayOptions): void {
  const { speed, rate, limit, subjectPrefix, format } = options;

  if (speed !== undefined && rate !== undefined) {
    throw new RangeError(`speed (${speed}) and rate (${rate}) cannot be combined; set one of them`);
  }
  if (speed !== undefined && !(Number.isFinite(speed) && speed > 0)) {
    throw new RangeError(`speed is ${speed}; expected a finite number above 0`);
  }
  if (rate !== undefined && !(Number.isFinite(rate) && rate > 0)) {
    throw new RangeError(`rate is ${rate}; expected a finite number of kills per second above 0`);
  }
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new RangeError(`limit is ${limit}; expected an integer of 0 or more`);
  }
  if (subjectPrefix !== undefined && !SUBJECT_PREFIX_PATTERN.test(subjectPrefix)) {
    throw new RangeError(
      `subjectPrefix is ${JSON.stringify(subjectPrefix)}; expected NATS subject tokens without wildcards or whitespace`,
    );
  }
  if (format !== undefined && format !== 'json' && format !== 'msgpack') {
    throw new RangeError(`format is ${JSON.stringify(format)}; expected json or msgpack`);
  }
}
