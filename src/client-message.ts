import { unpack } from 'msgpackr';
import { ErrorCode, type ErrorCodeValue } from './close-codes.js';

/** A message a client may send, after validation. */
export type ClientMessage =
  | { op: 'sub'; channels: string[] }
  | { op: 'unsub'; channels: string[] }
  | { op: 'ack'; seq: number }
  | { op: 'ping' }
  | { op: 'resume'; since: number };

export type ParseResult = { ok: true; message: ClientMessage } | { ok: false; code: ErrorCodeValue; message: string };

const MAX_SHOWN_CHARS = 80;

/**
 * Decodes and validates one client frame. JSON text frames are accepted on
 * every connection; binary frames only on msgpack connections.
 */
export function parseClientFrame(data: ArrayBuffer, isBinary: boolean, msgpackAllowed: boolean): ParseResult {
  let value: unknown;

  if (isBinary) {
    if (!msgpackAllowed) {
      return { ok: false, code: ErrorCode.INVALID_MESSAGE, message: 'binary frames are accepted only on format=msgpack connections; send JSON text frames' };
    }
    try {
      value = unpack(new Uint8Array(data));
    } catch (err) {
      return { ok: false, code: ErrorCode.INVALID_MSGPACK, message: `invalid msgpack frame: ${(err as Error).message}` };
    }
  } else {
    const text = Buffer.from(data).toString('utf8');
    try {
      value = JSON.parse(text);
    } catch {
      return { ok: false, code: ErrorCode.INVALID_JSON, message: `invalid JSON: ${show(text)}` };
    }
  }

  return validateMessage(value);
}

function validateMessage(value: unknown): ParseResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: ErrorCode.INVALID_MESSAGE, message: `expected an object with an "op" field, got ${show(JSON.stringify(value) ?? String(value))}` };
  }

  const record = value as Record<string, unknown>;
  const op = record.op;
  switch (op) {
    case 'sub':
    case 'unsub': {
      const channels = record.channels;
      if (!Array.isArray(channels) || channels.length === 0 || !channels.every((c) => typeof c === 'string')) {
        return { ok: false, code: ErrorCode.INVALID_MESSAGE, message: `"${op}" needs "channels": a non-empty array of strings, got ${show(JSON.stringify(channels) ?? 'nothing')}` };
      }
      return { ok: true, message: { op, channels: channels as string[] } };
    }
    case 'ack': {
      const seq = record.seq;
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
        return { ok: false, code: ErrorCode.INVALID_ACK, message: `"ack" needs "seq": a positive integer, got ${show(JSON.stringify(seq) ?? 'nothing')}` };
      }
      return { ok: true, message: { op, seq } };
    }
    case 'ping':
      return { ok: true, message: { op } };
    case 'resume': {
      const since = record.since;
      if (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0) {
        return { ok: false, code: ErrorCode.INVALID_MESSAGE, message: `"resume" needs "since": a non-negative integer event id, got ${show(JSON.stringify(since) ?? 'nothing')}` };
      }
      return { ok: true, message: { op, since } };
    }
    default:
      return { ok: false, code: ErrorCode.UNKNOWN_OP, message: `unknown op ${show(JSON.stringify(op) ?? 'missing')}; expected sub, unsub, ack, ping or resume` };
  }
}

/** Shortens a client-supplied value before echoing it in an error. */
export function show(text: string): string {
  return text.length <= MAX_SHOWN_CHARS ? text : `${text.slice(0, MAX_SHOWN_CHARS)}…`;
}
