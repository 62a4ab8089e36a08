import type { BatchGap } from './connection.js';
import { packr, type Detail, type FeedEvent, type WireFormat } from './feed-event.js';

/**
 * Assembles batch frames from the events' shared encodings. Each event's
 * bytes are copied once into the frame; nothing is re-serialized per
 * connection. Both formats allow this: a JSON array is its elements joined
 * by commas, and a msgpack array is a header followed by its elements.
 *
 * Frames are written into one scratch buffer that grows to the largest
 * frame seen, so a flush allocates nothing. The returned view is valid
 * only until the next call: send it (uWebSockets.js copies what it sends)
 * or copy it before encoding another batch.
 */
export function encodeBatch(seq: number, dropped: number, events: readonly FeedEvent[], format: WireFormat, detail: Detail, gap?: BatchGap): Buffer {
  if (format === 'json') return encodeJsonBatch(seq, dropped, events, detail, gap);
  return encodeMsgpackBatch(seq, dropped, events, detail, gap);
}

const INITIAL_SCRATCH_BYTES = 64 * 1024;
let scratch = Buffer.allocUnsafe(INITIAL_SCRATCH_BYTES);

/** Returns the scratch buffer, grown (doubling) to hold at least `bytes`. */
function scratchFor(bytes: number): Buffer {
  if (scratch.length < bytes) {
    let size = scratch.length;
    while (size < bytes) size *= 2;
    scratch = Buffer.allocUnsafe(size);
  }
  return scratch;
}

const JSON_TAIL = Buffer.from(']}');
const COMMA = 0x2c;

function encodeJsonBatch(seq: number, dropped: number, events: readonly FeedEvent[], detail: Detail, gap: BatchGap | undefined): Buffer {
  const gapField = gap === undefined ? '' : `"gap":${JSON.stringify(gap)},`;
  // The head is ASCII only, so its length in bytes equals its length in characters.
  const head = `{"op":"batch","seq":${seq},"dropped":${dropped},${gapField}"events":[`;

  let length = head.length + JSON_TAIL.length + Math.max(0, events.length - 1);
  for (const event of events) length += event.encoded('json', detail).length;

  const frame = scratchFor(length);
  let offset = frame.write(head, 0, 'latin1');
  for (let i = 0; i < events.length; i += 1) {
    if (i > 0) frame[offset++] = COMMA;
    offset += (events[i] as FeedEvent).encoded('json', detail).copy(frame, offset);
  }
  offset += JSON_TAIL.copy(frame, offset);
  return frame.subarray(0, offset);
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

  let length = head.length;
  for (const event of events) length += event.encoded('msgpack', detail).length;

  const frame = scratchFor(length);
  let offset = head.copy(frame, 0);
  for (const event of events) offset += event.encoded('msgpack', detail).copy(frame, offset);
  return frame.subarray(0, offset);
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
