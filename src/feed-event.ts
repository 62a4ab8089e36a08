import { Packr } from 'msgpackr';
import type { Kill } from './kill.js';

export type WireFormat = 'json' | 'msgpack';
export type Detail = 'full' | 'summary';

/** Plain msgpack, readable by any msgpack decoder: no msgpackr record extension. */
export const packr = new Packr({ useRecords: false, variableMapSize: true });

/**
 * One accepted kill with its feed id. Its wire encodings are made lazily,
 * once per format and detail level, and shared by every connection's ring
 * and batch: no per-connection copy of an event is ever encoded.
 */
export class FeedEvent {
  private jsonFull: Buffer | undefined;
  private jsonSummary: Buffer | undefined;
  private msgpackFull: Buffer | undefined;
  private msgpackSummary: Buffer | undefined;

  constructor(
    readonly id: number,
    readonly receivedAt: number,
    readonly kill: Kill,
    /** Producer publish time in ms since epoch, from the Killfeed-Published-At header. */
    readonly publishedAt?: number,
  ) {}

  /** Returns the event object a client sees at `detail`. */
  toWire(detail: Detail): Record<string, unknown> {
    const head: Record<string, unknown> = { id: this.id, received_at: this.receivedAt };
    if (this.publishedAt !== undefined) head.published_at = this.publishedAt;

    if (detail === 'summary') return { ...head, ...this.kill.summary };

    head.killmail = this.kill.killmail;
    if (this.kill.zkb !== undefined) head.zkb = this.kill.zkb;
    return head;
  }

  /** Returns the cached encoding for a format and detail level, encoding it on first use. */
  encoded(format: WireFormat, detail: Detail): Buffer {
    if (format === 'json') {
      if (detail === 'full') return (this.jsonFull ??= Buffer.from(JSON.stringify(this.toWire('full'))));
      return (this.jsonSummary ??= Buffer.from(JSON.stringify(this.toWire('summary'))));
    }

    if (detail === 'full') return (this.msgpackFull ??= packr.pack(this.toWire('full')));
    return (this.msgpackSummary ??= packr.pack(this.toWire('summary')));
  }
}
