import type { BatchGap } from './connection.js';
import { packr, type Detail, type FeedEvent, type WireFormat } from './feed-event.js';

/**
 * Assembles batch frames from the events' shared encodings. Each event's
 * bytes are copied once into the frame; nothing is re-serialized per
 * connection. Both formats allow this: a JSON array is its elements joined
 * by commas, and a msgpack array is a header followed by its elements.
 */
export function encodeBatch(seq: number, dropped: number, events: readonly FeedEvent[], format: WireFormat, detail: Detail, gap?: BatchGap): Buffer {
  if (format === 'json') return encodeJsonBatch(seq, dropped, events, detail, gap);
  return encodeMsgpackBatch(seq, dropped, events, detail, gap);
}

const JSON_TAIL = Buffer.from(']}');
const COMMA = 0x2c;

function encodeJsonBatch(seq: number, dropped: number, events: readonly FeedEvent[], detail: Detail, gap: BatchGap | undefined): Buffer {
  const gapField = gap === undefined ? '' : `"gap":${JSON.stringify(gap)},`;
  const head = Buffer.from(`{"op":"batch","seq":${seq},"dropped":${dropped},${gapField}"events":[`);
  const parts = events.map((event) => event.encoded('json', detail));

  let length = head.length + JSON_TAIL.length + Math.max(0, parts.length - 1);
  for (const part of parts) length += part.length;

  const frame = Buffer.allocUnsafe(length);
  let offset = head.copy(frame, 0);
  for (let i = 0; i < parts.length; i += 1) {
    if (i > 0) frame[offset++] = COMMA;
    offset += (parts[i] as Buffer).copy(frame, offset);
  }
  JSON_TAIL.copy(frame, offset);
  return frame;
}

function encodeMsgpackBatch(seq: number, dropped: number, events: readonly FeedEvent[], detail: Detail, gap: BatchGap | undefined): Buffer {
  // A fixmap whose last value, the events array, is spliced in raw.
  const gapEntry = gap === undefined ? [] : [packr.pack('gap'), packr.pack(gap)];
  const head = Buffer.concat([
    Buffer.from([gap === undefined ? 0x84 : 0x85]),
    packr.pack('op'),
    packr.pack('batch'),
    packr.pack('seq'),
    packr.pack(seq),
    packr.pack('dropped'),
    packr.pack(dropped),
    ...gapEntry,
    packr.pack('events'),
    msgpackArrayHeader(events.length),
  ]);
  const parts = events.map((event) => event.encoded('msgpack', detail));
  return Buffer.concat([head, ...parts]);
}

function msgpackArrayHeader(length: number): Buffer {
  if (length < 16) return Buffer.from([0x90 | length]);
  if (length < 0x10000) return Buffer.from([0xdc, length >> 8, length & 0xff]);

  const header = Buffer.allocUnsafe(5);
  header[0] = 0xdd;
  header.writeUInt32BE(length, 1);
  return header;
}

/** Encodes a control message (welcome, subscribed, error, …) in the connection's format. */
export function encodeControl(message: Record<string, unknown>, format: WireFormat): Buffer | string {
  if (format === 'json') return JSON.stringify(message);
  return packr.pack(message);
}
