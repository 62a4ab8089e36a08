import { Unpackr } from 'msgpackr';

import { channelsOfKill, summarizeKill } from './channels.js';
import type { EsiKillmail, Kill } from './kill.js';
import type { Universe } from './universe.js';

/**
 * Turns one NATS payload into a validated, routed Kill.
 *
 * Accepted payloads: an ESI killmail object, or a zKillboard R2Z2 package
 * `{killmail_id, hash, esi, zkb, sequence_id, uploaded_at}` with the ESI
 * object under `esi`, each encoded as JSON or msgpack.
 */

/** Reasons a payload is rejected. A bounded set, usable as a metric label. */
export const REJECT_REASONS = [
  'too_large',
  'invalid_json',
  'invalid_msgpack',
  'unsupported_content_type',
  'unknown_format',
  'invalid_killmail',
] as const;

export type RejectReason = (typeof REJECT_REASONS)[number];

export type PayloadFormat = 'json' | 'msgpack';

export interface DecodeContext {
  universe: Universe;
  /** Payloads longer than this many bytes are rejected before parsing. */
  maxBytes: number;
}

export type DecodeResult =
  | { ok: true; kill: Kill; format: PayloadFormat }
  | { ok: false; reason: RejectReason; message: string };

export type KillResult = { ok: true; kill: Kill } | { ok: false; reason: 'invalid_killmail'; message: string };

/**
 * Deepest nesting accepted in a payload. ESI killmails nest about 6 levels
 * (victim.items[].items[] for containers). The bound keeps JSON.stringify of
 * the passed-through killmail from overflowing the stack, and stops cycles
 * that msgpackr's reference extension can build.
 */
export const MAX_NESTING_DEPTH = 32;

/** Length at which a value quoted in a reject message is cut. */
const MAX_QUOTED_LENGTH = 48;

/** Length at which a parser's error message inside a reject message is cut. */
const MAX_ERROR_LENGTH = 160;

const FORMATS_BY_MEDIA_TYPE: ReadonlyMap<string, PayloadFormat> = new Map([
  ['application/json', 'json'],
  ['application/msgpack', 'msgpack'],
  ['application/x-msgpack', 'msgpack'],
  ['application/vnd.msgpack', 'msgpack'],
]);

const utf8 = new TextDecoder('utf-8', { fatal: true });

// Plain msgpack: maps become objects with string keys, 64-bit integers become
// numbers (above 2^53 they lose precision, and the id checks reject them).
// Record structures defined inside a message do not outlive that message
// because no shared structures are configured.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

const ISO_UTC_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?Z$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Optional party ids that must be positive integers when present. */
const PARTY_ID_FIELDS = ['character_id', 'corporation_id', 'alliance_id', 'faction_id'] as const;

/**
 * Decodes and validates one payload. Never throws: every failure, including
 * a broken msgpack stream or a value that JSON cannot represent, comes back
 * as `{ok: false}` with a reason and a message that names the field and the
 * offending value.
 *
 * `contentType` picks the format when given (media type parameters such as
 * `; charset=utf-8` are ignored). Without it the first bytes decide: `{`
 * after optional whitespace is JSON, a msgpack map prefix (0x80-0x8f, 0xde,
 * 0xdf) is msgpack.
 */
export function decodeKill(payload: Uint8Array, contentType: string | undefined, ctx: DecodeContext): DecodeResult {
  if (payload.byteLength > ctx.maxBytes) {
    return reject('too_large', `payload is ${payload.byteLength} bytes, over the maximum of ${ctx.maxBytes}`);
  }

  let format: PayloadFormat | undefined;
  if (contentType === undefined || contentType === '') {
    format = sniffFormat(payload);
    if (format === undefined) {
      return reject('unknown_format', `payload starts with ${describeFirstByte(payload)}; expected a JSON object or a msgpack map`);
    }
  } else {
    format = FORMATS_BY_MEDIA_TYPE.get(mediaTypeOf(contentType));
    if (format === undefined) {
      return reject(
        'unsupported_content_type',
        `content type ${quote(contentType)} is not supported; expected application/json or application/msgpack`,
      );
    }
  }

  let value: unknown;
  try {
    value = format === 'json' ? JSON.parse(utf8.decode(payload)) : unpackr.unpack(payload);
  } catch (err) {
    const reason = format === 'json' ? 'invalid_json' : 'invalid_msgpack';
    return reject(reason, `payload is not valid ${format === 'json' ? 'JSON' : 'msgpack'}: ${errorMessage(err)}`);
  }

  // Every JSON or msgpack value takes at least one byte, so a tree with more
  // values than the payload has bytes must share references.
  const shapeError = findNonJsonValue(value, 0, { remaining: payload.byteLength });
  if (shapeError !== undefined) {
    return reject('invalid_killmail', `${shapeError.path || 'payload'} ${shapeError.problem}`);
  }

  const result = killFromValue(value, ctx.universe);
  if (!result.ok) return result;
  return { ok: true, kill: result.kill, format };
}

/**
 * Validates an already parsed ESI killmail or R2Z2 package and builds the
 * routed Kill. Expects a tree of JSON values, as JSON.parse returns. Checks:
 *
 * - killmail_id is a positive safe integer, and solar_system_id a positive integer.
 * - killmail_time is an ISO-8601 UTC timestamp of a real date, such as
 *   `2021-11-28T00:00:32Z`, with an optional fraction of a second.
 * - victim is an object with a positive integer ship_type_id.
 * - attackers is a non-empty array of objects.
 * - Character, corporation, alliance, faction and ship type ids of every
 *   party are positive integers when present, and final_blow is a boolean.
 * - An R2Z2 package has a killmail_id equal to esi.killmail_id, and its
 *   zkb, when present, is an object.
 */
export function killFromValue(value: unknown, universe: Universe): KillResult {
  if (!isPlainObject(value)) {
    return invalidKillmail(`payload is ${describe(value)}; expected a killmail object`);
  }

  if (!Object.hasOwn(value, 'esi')) {
    const error = validateEsiKillmail(value, '');
    if (error !== undefined) return invalidKillmail(error);
    return { ok: true, kill: buildKill(value as EsiKillmail, undefined, universe) };
  }

  // An R2Z2 package: the ESI killmail under `esi`, zKillboard's data under `zkb`.
  const { esi, zkb } = value;
  if (!isPlainObject(esi)) {
    return invalidKillmail(`esi is ${describe(esi)}; expected the ESI killmail object`);
  }
  if (zkb !== undefined && !isPlainObject(zkb)) {
    return invalidKillmail(`zkb is ${describe(zkb)}; expected an object`);
  }

  const error = validateEsiKillmail(esi, 'esi.');
  if (error !== undefined) return invalidKillmail(error);

  if (value.killmail_id !== esi.killmail_id) {
    return invalidKillmail(
      `killmail_id is ${describe(value.killmail_id)} but esi.killmail_id is ${describe(esi.killmail_id)}; expected them to match`,
    );
  }

  return { ok: true, kill: buildKill(esi as EsiKillmail, zkb, universe) };
}

function buildKill(killmail: EsiKillmail, zkb: Record<string, unknown> | undefined, universe: Universe): Kill {
  return {
    killmail,
    zkb,
    killmailId: killmail.killmail_id,
    channels: channelsOfKill(killmail, universe),
    summary: summarizeKill(killmail, zkb, universe),
  };
}

/** Returns a message naming the first invalid field, or undefined when the killmail is valid. */
function validateEsiKillmail(killmail: Record<string, unknown>, path: string): string | undefined {
  const { killmail_id, killmail_time, solar_system_id, victim, attackers } = killmail;

  if (!isPositiveSafeInteger(killmail_id)) {
    return `${path}killmail_id ${isMissing(killmail_id)}; expected a positive integer`;
  }
  if (typeof killmail_time !== 'string' || !isIsoUtcTimestamp(killmail_time)) {
    return `${path}killmail_time ${isMissing(killmail_time)}; expected an ISO-8601 UTC timestamp such as 2021-11-28T00:00:32Z`;
  }
  if (!isPositiveSafeInteger(solar_system_id)) {
    return `${path}solar_system_id ${isMissing(solar_system_id)}; expected a positive integer`;
  }

  if (!isPlainObject(victim)) {
    return `${path}victim ${isMissing(victim)}; expected an object`;
  }
  const victimError = validateParty(victim, `${path}victim`);
  if (victimError !== undefined) return victimError;
  if (!isPositiveSafeInteger(victim.ship_type_id)) {
    return `${path}victim.ship_type_id ${isMissing(victim.ship_type_id)}; expected a positive integer`;
  }

  if (!Array.isArray(attackers) || attackers.length === 0) {
    return `${path}attackers ${isMissing(attackers)}; expected a non-empty array of objects`;
  }
  for (let i = 0; i < attackers.length; i++) {
    const attacker: unknown = attackers[i];
    if (!isPlainObject(attacker)) {
      return `${path}attackers[${i}] ${isMissing(attacker)}; expected an object`;
    }
    const attackerError = validateParty(attacker, `${path}attackers[${i}]`);
    if (attackerError !== undefined) return attackerError;
  }

  return undefined;
}

function validateParty(party: Record<string, unknown>, path: string): string | undefined {
  for (const field of PARTY_ID_FIELDS) {
    const id = party[field];
    if (id !== undefined && !isPositiveSafeInteger(id)) {
      return `${path}.${field} is ${describe(id)}; expected a positive integer when present`;
    }
  }

  const shipTypeId = party.ship_type_id;
  if (shipTypeId !== undefined && !isPositiveSafeInteger(shipTypeId)) {
    return `${path}.ship_type_id is ${describe(shipTypeId)}; expected a positive integer`;
  }

  const finalBlow = party.final_blow;
  if (finalBlow !== undefined && typeof finalBlow !== 'boolean') {
    return `${path}.final_blow is ${describe(finalBlow)}; expected a boolean when present`;
  }

  return undefined;
}

interface ShapeError {
  path: string;
  problem: string;
}

/**
 * Finds the first value that JSON cannot represent, walking at most
 * `budget.remaining` values and MAX_NESTING_DEPTH levels. msgpack can carry
 * such values: bigints, dates, binary, sets, maps and shared or cyclic
 * references through msgpackr's extensions. Cost: one visit per value, and
 * the error path is built only on failure.
 */
function findNonJsonValue(value: unknown, depth: number, budget: { remaining: number }): ShapeError | undefined {
  budget.remaining -= 1;
  if (budget.remaining < 0) {
    return { path: '', problem: 'decodes to more values than the payload has bytes; shared references are not supported' };
  }

  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : { path: '', problem: `is ${value}; JSON has no such number` };
    case 'object':
      break;
    default:
      return { path: '', problem: `is a ${typeof value}; JSON has no such value` };
  }

  if (value === null) return undefined;
  if (depth >= MAX_NESTING_DEPTH) {
    return { path: '', problem: `nests deeper than ${MAX_NESTING_DEPTH} levels` };
  }

  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const error = findNonJsonValue(value[i], depth + 1, budget);
      if (error !== undefined) {
        error.path = `[${i}]${error.path}`;
        return error;
      }
    }
    return undefined;
  }

  if (!isPlainObject(value)) {
    return { path: '', problem: `is ${describe(value)}; JSON has no such value` };
  }
  for (const key in value) {
    const error = findNonJsonValue(value[key], depth + 1, budget);
    if (error !== undefined) {
      const name = truncate(key);
      error.path = depth === 0 ? `${name}${error.path}` : `.${name}${error.path}`;
      return error;
    }
  }
  return undefined;
}

/** Strips parameters and case from a Content-Type value: `Application/JSON; charset=utf-8` becomes `application/json`. */
function mediaTypeOf(contentType: string): string {
  const semicolon = contentType.indexOf(';');
  const mediaType = semicolon < 0 ? contentType : contentType.slice(0, semicolon);
  return mediaType.trim().toLowerCase();
}

function sniffFormat(payload: Uint8Array): PayloadFormat | undefined {
  const first = payload[0];
  if (first === undefined) return undefined;
  if ((first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf) return 'msgpack';

  for (let i = 0; i < payload.length; i++) {
    const byte = payload[i];
    // JSON whitespace: space, tab, line feed, carriage return.
    if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    return byte === 0x7b ? 'json' : undefined;
  }
  return undefined;
}

function describeFirstByte(payload: Uint8Array): string {
  const first = payload[0];
  if (first === undefined) return 'nothing (the payload is empty)';
  return `byte 0x${first.toString(16).padStart(2, '0')}`;
}

function isIsoUtcTimestamp(text: string): boolean {
  const match = ISO_UTC_TIMESTAMP.exec(text);
  if (match === null) return false;

  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  const hour = Number(match[4]);
  const minute = Number(match[5]);
  const second = Number(match[6]);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return false;

  const isLeapYear = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = month === 2 && isLeapYear ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
  if (day > daysInMonth) return false;

  return !Number.isNaN(Date.parse(text));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function isPositiveSafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** `is missing` or `is <value>`, for messages about a required field. */
function isMissing(value: unknown): string {
  return value === undefined ? 'is missing' : `is ${describe(value)}`;
}

/** Describes a value for a message, cut to MAX_QUOTED_LENGTH. Never throws. */
function describe(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
    case 'boolean':
    case 'bigint':
      return truncate(String(value));
    case 'undefined':
      return 'undefined';
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return `an array of ${value.length} items`;
      return isPlainObject(value) ? 'an object' : describeClass(value);
    default:
      return `a ${typeof value}`;
  }
}

function describeClass(value: object): string {
  const name: unknown = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' ? `a ${truncate(name)} object` : 'an object with a custom prototype';
}

function quote(text: string): string {
  return text.length > MAX_QUOTED_LENGTH ? `${JSON.stringify(text.slice(0, MAX_QUOTED_LENGTH))}…` : JSON.stringify(text);
}

function truncate(text: string, maxLength = MAX_QUOTED_LENGTH): string {
  return text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
}

function errorMessage(err: unknown): string {
  return truncate(err instanceof Error ? err.message : String(err), MAX_ERROR_LENGTH);
}

function reject(reason: RejectReason, message: string): DecodeResult {
  return { ok: false, reason, message };
}

function invalidKillmail(message: string): KillResult {
  return { ok: false, reason: 'invalid_killmail', message };
}
