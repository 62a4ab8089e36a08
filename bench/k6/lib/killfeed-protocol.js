// @ts-check
/**
 * Client side of the Killfeed WebSocket protocol v1, as pure functions.
 *
 * The k6 scripts and the Node load generator (bench/lib) share this module,
 * so it uses no Node or k6 API: no URL class, no Buffer, no timers.
 *
 * Batch numbering: the gateway numbers batches 1, 2, 3… per connection and
 * expects a cumulative ACK. A batch with `seq` 0 comes from a server that
 * does not number batches per connection (the uWS pub/sub and Socket.IO
 * comparison servers share one frame between all subscribers), so it gets
 * no ACK and no gap check.
 */

export const PROTOCOL_VERSION = 1;

export const DEFAULT_FEED_URL = 'ws://127.0.0.1:8080/v1/feed';

/**
 * Ids older than this many feed ids below the highest id seen are forgotten
 * by duplicate detection, which bounds its memory per connection.
 */
export const DEDUPE_WINDOW_IDS = 4096;

/** @typedef {'json' | 'msgpack'} FeedFormat */
/** @typedef {'full' | 'summary'} FeedDetail */

/**
 * Query parameters of the feed URL. Absent fields are left to the server's defaults.
 * @typedef {object} FeedQuery
 * @property {FeedFormat} [format]
 * @property {readonly string[]} [channels] Initial subscriptions, such as `all:*` or `alliance:99000001`.
 * @property {FeedDetail} [detail]
 */

/**
 * One kill as the server delivers it. Counting and freshness read only `id`,
 * `received_at` and `published_at`, which both detail levels carry.
 * @typedef {object} FeedEvent
 * @property {number} id Feed id, strictly increasing on the gateway.
 * @property {number} [received_at] Time in ms since the epoch at which the server received the kill.
 * @property {number} [published_at] Time in ms since the epoch at which the producer published the kill.
 * @property {Record<string, unknown>} [killmail] The ESI killmail, at detail `full`.
 * @property {number} [killmail_id] The killmail's id at top level, at detail `summary`.
 */

/**
 * @typedef {object} WelcomeFrame
 * @property {'welcome'} op
 * @property {number} version
 * @property {string} connection_id
 * @property {{min: number, max: number, current: number}} interval_ms
 * @property {number} ring_capacity
 * @property {number} heartbeat_ms
 * @property {number | null} latest_id
 */

/**
 * @typedef {object} BatchFrame
 * @property {'batch'} op
 * @property {number} seq 1, 2, 3… per connection, or 0 from a server that does not number batches.
 * @property {number} dropped Matching events lost to ring overflow since the previous batch.
 * @property {FeedEvent[]} events
 */

/**
 * @typedef {object} SubscriptionFrame
 * @property {'subscribed' | 'unsubscribed'} op
 * @property {string[]} channels
 */

/** @typedef {{op: 'pong'}} PongFrame */

/**
 * @typedef {object} HeartbeatFrame
 * @property {'heartbeat'} op
 * @property {number | null} latest_id
 */

/**
 * @typedef {object} ErrorFrame
 * @property {'error'} op
 * @property {string} code
 * @property {string} message
 */

/**
 * A frame that is not valid JSON or not a v1 server frame.
 * @typedef {object} InvalidFrame
 * @property {'invalid'} op
 * @property {string} reason
 */

/** @typedef {WelcomeFrame | BatchFrame | SubscriptionFrame | PongFrame | HeartbeatFrame | ErrorFrame | InvalidFrame} ServerFrame */

/**
 * Per-connection delivery counters.
 * @typedef {object} FeedCounters
 * @property {number} batches Batch frames received.
 * @property {number} delivered Distinct events received.
 * @property {number} dropped Sum of the batches' `dropped` fields.
 * @property {number} matched Events the connection should have received, set by the caller.
 * @property {number} duplicates Events whose id this connection had already received.
 * @property {number} reordered Events whose id was not above the highest id received before.
 * @property {number} seqGaps Batch numbers skipped between two batches.
 * @property {number} seqRegressions Batches whose number was not above the previous one.
 * @property {number} lastSeq Number of the latest batch, 0 before the first.
 * @property {number} maxId Highest event id received, -1 before the first.
 * @property {Set<number> | undefined} seenIds Recent ids for duplicate detection, when enabled.
 */

/**
 * The outcome of one batch for the caller to act on.
 * @typedef {object} BatchOutcome
 * @property {string | undefined} ack ACK message to send, absent when the batch has no number.
 * @property {number} eventCount Events in the frame, duplicates included.
 * @property {number} newEvents Events not received before.
 * @property {number[]} freshnessMs Per new event: receive time minus publish time, in ms.
 * @property {number} seqGap Batch numbers skipped before this batch.
 */

/**
 * Builds the feed URL from a base such as `ws://host:port/v1/feed`.
 * Query parameters already in `base` are kept, and the ones in `query` are appended.
 * @param {string} base
 * @param {FeedQuery} [query]
 * @returns {string}
 */
export function buildFeedUrl(base, query = {}) {
  /** @type {string[]} */
  const params = [];

  if (query.format !== undefined) params.push(`format=${encodeURIComponent(query.format)}`);
  if (query.channels !== undefined && query.channels.length > 0) {
    params.push(`channels=${query.channels.map((channel) => encodeURIComponent(channel)).join(',')}`);
  }
  if (query.detail !== undefined) params.push(`detail=${encodeURIComponent(query.detail)}`);

  if (params.length === 0) return base;
  const separator = base.includes('?') ? '&' : '?';
  return `${base}${separator}${params.join('&')}`;
}

/**
 * Parses one JSON text frame from the server. Malformed input becomes an
 * `invalid` frame with the reason instead of an exception.
 * @param {string} text
 * @returns {ServerFrame}
 */
export function parseFrame(text) {
  /** @type {unknown} */
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return invalid(`invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  return decodeFrame(value);
}

/**
 * Checks an already decoded frame (from msgpack or Socket.IO) against the v1
 * server frames. Any value that JSON, msgpack or Socket.IO decoding yields
 * gives a frame, an `invalid` one at worst, and no exception.
 * @param {unknown} value
 * @returns {ServerFrame}
 */
export function decodeFrame(value) {
  if (!isRecord(value)) return invalid('frame is not a JSON object');

  switch (value.op) {
    case 'welcome':
      return decodeWelcome(value);
    case 'batch':
      return decodeBatch(value);
    case 'subscribed':
    case 'unsubscribed':
      if (!Array.isArray(value.channels) || !value.channels.every((channel) => typeof channel === 'string')) {
        return invalid(`${value.op} frame has no channels array of strings`);
      }
      return { op: value.op, channels: value.channels };
    case 'pong':
      return { op: 'pong' };
    case 'heartbeat':
      return { op: 'heartbeat', latest_id: optionalId(value.latest_id) };
    case 'error':
      return {
        op: 'error',
        code: typeof value.code === 'string' ? value.code : String(value.code),
        message: typeof value.message === 'string' ? value.message : '',
      };
    default:
      return invalid(`unknown op ${describeValue(value.op)}`);
  }
}

/**
 * @param {Record<string, unknown>} value
 * @returns {WelcomeFrame | InvalidFrame}
 */
function decodeWelcome(value) {
  if (value.version !== PROTOCOL_VERSION) {
    return invalid(`welcome has version ${describeValue(value.version)}, expected ${PROTOCOL_VERSION}`);
  }

  const interval = isRecord(value.interval_ms) ? value.interval_ms : {};
  return {
    op: 'welcome',
    version: PROTOCOL_VERSION,
    connection_id: String(value.connection_id ?? ''),
    interval_ms: {
      min: finiteOr(interval.min, 0),
      max: finiteOr(interval.max, 0),
      current: finiteOr(interval.current, 0),
    },
    ring_capacity: finiteOr(value.ring_capacity, 0),
    heartbeat_ms: finiteOr(value.heartbeat_ms, 0),
    latest_id: optionalId(value.latest_id),
  };
}

/**
 * @param {Record<string, unknown>} value
 * @returns {BatchFrame | InvalidFrame}
 */
function decodeBatch(value) {
  if (!isCount(value.seq)) return invalid(`batch seq ${describeValue(value.seq)} is not a non-negative integer`);
  if (!isCount(value.dropped)) {
    return invalid(`batch dropped ${describeValue(value.dropped)} is not a non-negative integer`);
  }
  if (!Array.isArray(value.events)) return invalid(`batch ${value.seq} has no events array`);

  for (const event of value.events) {
    if (!isRecord(event) || typeof event.id !== 'number' || !Number.isFinite(event.id)) {
      return invalid(`batch ${value.seq} contains an event without a numeric id`);
    }
  }

  return {
    op: 'batch',
    seq: value.seq,
    dropped: value.dropped,
    events: /** @type {FeedEvent[]} */ (value.events),
  };
}

/**
 * Builds the cumulative ACK message for batch `seq`.
 * @param {number} seq
 * @returns {string}
 */
export function ackMessage(seq) {
  return JSON.stringify({ op: 'ack', seq });
}

/**
 * @param {readonly string[]} channels
 * @returns {string}
 */
export function subscribeMessage(channels) {
  return JSON.stringify({ op: 'sub', channels });
}

/**
 * @param {readonly string[]} channels
 * @returns {string}
 */
export function unsubscribeMessage(channels) {
  return JSON.stringify({ op: 'unsub', channels });
}

/** @returns {string} */
export function pingMessage() {
  return JSON.stringify({ op: 'ping' });
}

/**
 * Computes an event's freshness: `nowMs` minus the producer's publish time,
 * or minus the server's receive time when the event has no publish time.
 * Returns undefined when the event carries neither.
 * @param {FeedEvent} event
 * @param {number} nowMs
 * @returns {number | undefined}
 */
export function eventFreshnessMs(event, nowMs) {
  const origin = typeof event.published_at === 'number' ? event.published_at : event.received_at;
  if (typeof origin !== 'number' || !Number.isFinite(origin)) return undefined;
  return nowMs - origin;
}

/**
 * Returns the detail level that an event's shape shows: `full` when it
 * carries the ESI `killmail` object, `summary` when it carries `killmail_id`
 * at top level instead, and undefined when it carries neither.
 * @param {FeedEvent} event
 * @returns {FeedDetail | undefined}
 */
export function eventDetail(event) {
  if (isRecord(event.killmail)) return 'full';
  if (typeof event.killmail_id === 'number') return 'summary';
  return undefined;
}

/**
 * Creates the counters of one connection.
 * @param {{dedupe?: boolean}} [options] `dedupe` keeps recent ids to tell
 *   duplicates from reordered events. Needed only where one connection can get
 *   the same event twice, such as topic fan-out to a client on several channels.
 * @returns {FeedCounters}
 */
export function createFeedCounters(options = {}) {
  return {
    batches: 0,
    delivered: 0,
    dropped: 0,
    matched: 0,
    duplicates: 0,
    reordered: 0,
    seqGaps: 0,
    seqRegressions: 0,
    lastSeq: 0,
    maxId: -1,
    seenIds: options.dedupe === true ? new Set() : undefined,
  };
}

/**
 * Counts one batch into `counters` and returns what the client should do:
 * the ACK to send, the freshness of each new event, and the seq gap.
 *
 * Without duplicate detection, every event counts as delivered, and an id
 * that is not above the highest id seen is counted as reordered.
 * @param {FeedCounters} counters
 * @param {BatchFrame} batch
 * @param {number} nowMs Receive time of the frame in ms since the epoch.
 * @returns {BatchOutcome}
 */
export function applyBatch(counters, batch, nowMs) {
  counters.batches += 1;
  counters.dropped += batch.dropped;

  // Batch numbering: a gap means the server skipped numbers, a regression
  // means it reused or reordered them. Unnumbered batches are not checked.
  let seqGap = 0;
  if (batch.seq > 0) {
    if (batch.seq <= counters.lastSeq) {
      counters.seqRegressions += 1;
    } else {
      seqGap = batch.seq - counters.lastSeq - 1;
      counters.seqGaps += seqGap;
      counters.lastSeq = batch.seq;
    }
  }

  /** @type {number[]} */
  const freshnessMs = [];
  let newEvents = 0;
  for (const event of batch.events) {
    if (!countEvent(counters, event.id)) continue;

    newEvents += 1;
    const freshness = eventFreshnessMs(event, nowMs);
    if (freshness !== undefined) freshnessMs.push(freshness);
  }
  counters.delivered += newEvents;

  return {
    ack: batch.seq > 0 ? ackMessage(batch.seq) : undefined,
    eventCount: batch.events.length,
    newEvents,
    freshnessMs,
    seqGap,
  };
}

/**
 * Records one event id and returns whether it is new to this connection.
 * @param {FeedCounters} counters
 * @param {number} id
 * @returns {boolean}
 */
function countEvent(counters, id) {
  const seen = counters.seenIds;
  if (seen !== undefined) {
    if (seen.has(id)) {
      counters.duplicates += 1;
      return false;
    }
    seen.add(id);
    if (seen.size > 2 * DEDUPE_WINDOW_IDS) forgetOldIds(seen, Math.max(counters.maxId, id) - DEDUPE_WINDOW_IDS);
  }

  if (id <= counters.maxId) {
    counters.reordered += 1;
  } else {
    counters.maxId = id;
  }
  return true;
}

/**
 * @param {Set<number>} seen
 * @param {number} lowestKept
 */
function forgetOldIds(seen, lowestKept) {
  for (const id of seen) {
    if (id < lowestKept) seen.delete(id);
  }
}

/**
 * Returns matched minus delivered minus dropped: 0 when every matching event
 * was either delivered or reported as dropped, positive when events went
 * missing without notice, negative when more arrived than matched.
 * @param {FeedCounters} counters
 * @returns {number}
 */
export function unaccountedEvents(counters) {
  return counters.matched - counters.delivered - counters.dropped;
}

/**
 * Index from channel to the positions of the published events that match it,
 * for counting matches per connection without a pass over every event.
 * @typedef {Map<string, number[]>} MatchIndex
 */

/**
 * Builds a match index from the channel sets of the published events, in publish order.
 * @param {Iterable<readonly string[]>} publishedChannelSets
 * @returns {MatchIndex}
 */
export function buildMatchIndex(publishedChannelSets) {
  /** @type {MatchIndex} */
  const index = new Map();
  let position = 0;
  for (const channels of publishedChannelSets) {
    for (const channel of channels) {
      let positions = index.get(channel);
      if (positions === undefined) {
        positions = [];
        index.set(channel, positions);
      }
      // A channel listed twice in one set adds its position once.
      if (positions[positions.length - 1] !== position) positions.push(position);
    }
    position += 1;
  }
  return index;
}

/**
 * Counts the published events that match at least one of `subscribed`,
 * each event once however many of its channels match.
 * @param {MatchIndex} index
 * @param {readonly string[]} subscribed
 * @returns {number}
 */
export function countMatched(index, subscribed) {
  /** @type {number[][]} */
  const lists = [];
  for (const channel of new Set(subscribed)) {
    const positions = index.get(channel);
    if (positions !== undefined && positions.length > 0) lists.push(positions);
  }

  if (lists.length === 0) return 0;
  if (lists.length === 1) return /** @type {number[]} */ (lists[0]).length;

  /** @type {Set<number>} */
  const union = new Set();
  for (const positions of lists) {
    for (const position of positions) union.add(position);
  }
  return union.size;
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
function isRecord(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * @param {unknown} value
 * @returns {value is number}
 */
function isCount(value) {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

/**
 * @param {unknown} value
 * @param {number} fallback
 * @returns {number}
 */
function finiteOr(value, fallback) {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

/**
 * @param {unknown} value
 * @returns {number | null}
 */
function optionalId(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * @param {string} reason
 * @returns {InvalidFrame}
 */
function invalid(reason) {
  return { op: 'invalid', reason };
}

/**
 * Describes a value for an error reason, at most 80 characters. Falls back to
 * String() for values that JSON.stringify rejects, such as a BigInt from msgpack.
 * @param {unknown} value
 * @returns {string}
 */
function describeValue(value) {
  /** @type {string | undefined} */
  let text;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    text = String(value);
  }
  if (text === undefined) return String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
