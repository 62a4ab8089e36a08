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
export function buildFeedUrl(base: string, query?: FeedQuery): string;
/**
 * Parses one JSON text frame from the server. Malformed input becomes an
 * `invalid` frame with the reason instead of an exception.
 * @param {string} text
 * @returns {ServerFrame}
 */
export function parseFrame(text: string): ServerFrame;
/**
 * Checks an already decoded frame (from msgpack or Socket.IO) against the v1
 * server frames. Any value that JSON, msgpack or Socket.IO decoding yields
 * gives a frame, an `invalid` one at worst, and no exception.
 * @param {unknown} value
 * @returns {ServerFrame}
 */
export function decodeFrame(value: unknown): ServerFrame;
/**
 * Builds the cumulative ACK message for batch `seq`.
 * @param {number} seq
 * @returns {string}
 */
export function ackMessage(seq: number): string;
/**
 * @param {readonly string[]} channels
 * @returns {string}
 */
export function subscribeMessage(channels: readonly string[]): string;
/**
 * @param {readonly string[]} channels
 * @returns {string}
 */
export function unsubscribeMessage(channels: readonly string[]): string;
/** @returns {string} */
export function pingMessage(): string;
/**
 * Computes an event's freshness: `nowMs` minus the producer's publish time,
 * or minus the server's receive time when the event has no publish time.
 * Returns undefined when the event carries neither.
 * @param {FeedEvent} event
 * @param {number} nowMs
 * @returns {number | undefined}
 */
export function eventFreshnessMs(event: FeedEvent, nowMs: number): number | undefined;
/**
 * Returns the detail level that an event's shape shows: `full` when it
 * carries the ESI `killmail` object, `summary` when it carries `killmail_id`
 * at top level instead, and undefined when it carries neither.
 * @param {FeedEvent} event
 * @returns {FeedDetail | undefined}
 */
export function eventDetail(event: FeedEvent): FeedDetail | undefined;
/**
 * Creates the counters of one connection.
 * @param {{dedupe?: boolean}} [options] `dedupe` keeps recent ids to tell
 *   duplicates from reordered events. Needed only where one connection can get
 *   the same event twice, such as topic fan-out to a client on several channels.
 * @returns {FeedCounters}
 */
export function createFeedCounters(options?: {
    dedupe?: boolean;
}): FeedCounters;
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
export function applyBatch(counters: FeedCounters, batch: BatchFrame, nowMs: number): BatchOutcome;
/**
 * Returns matched minus delivered minus dropped: 0 when every matching event
 * was either delivered or reported as dropped, positive when events went
 * missing without notice, negative when more arrived than matched.
 * @param {FeedCounters} counters
 * @returns {number}
 */
export function unaccountedEvents(counters: FeedCounters): number;
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
export function buildMatchIndex(publishedChannelSets: Iterable<readonly string[]>): MatchIndex;
/**
 * Counts the published events that match at least one of `subscribed`,
 * each event once however many of its channels match.
 * @param {MatchIndex} index
 * @param {readonly string[]} subscribed
 * @returns {number}
 */
export function countMatched(index: MatchIndex, subscribed: readonly string[]): number;
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
export const PROTOCOL_VERSION: 1;
export const DEFAULT_FEED_URL: "ws://127.0.0.1:8080/v1/feed";
/**
 * Ids older than this many feed ids below the highest id seen are forgotten
 * by duplicate detection, which bounds its memory per connection.
 */
export const DEDUPE_WINDOW_IDS: 4096;
export type FeedFormat = "json" | "msgpack";
export type FeedDetail = "full" | "summary";
/**
 * Query parameters of the feed URL. Absent fields are left to the server's defaults.
 */
export type FeedQuery = {
    format?: FeedFormat | undefined;
    /**
     * Initial subscriptions, such as `all:*` or `alliance:99000001`.
     */
    channels?: readonly string[] | undefined;
    detail?: FeedDetail | undefined;
};
/**
 * One kill as the server delivers it. Counting and freshness read only `id`,
 * `received_at` and `published_at`, which both detail levels carry.
 */
export type FeedEvent = {
    /**
     * Feed id, strictly increasing on the gateway.
     */
    id: number;
    /**
     * Time in ms since the epoch at which the server received the kill.
     */
    received_at?: number | undefined;
    /**
     * Time in ms since the epoch at which the producer published the kill.
     */
    published_at?: number | undefined;
    /**
     * The ESI killmail, at detail `full`.
     */
    killmail?: Record<string, unknown> | undefined;
    /**
     * The killmail's id at top level, at detail `summary`.
     */
    killmail_id?: number | undefined;
};
export type WelcomeFrame = {
    op: "welcome";
    version: number;
    connection_id: string;
    interval_ms: {
        min: number;
        max: number;
        current: number;
    };
    ring_capacity: number;
    heartbeat_ms: number;
    latest_id: number | null;
};
export type BatchFrame = {
    op: "batch";
    /**
     * 1, 2, 3… per connection, or 0 from a server that does not number batches.
     */
    seq: number;
    /**
     * Matching events lost to ring overflow since the previous batch.
     */
    dropped: number;
    events: FeedEvent[];
};
export type SubscriptionFrame = {
    op: "subscribed" | "unsubscribed";
    channels: string[];
};
export type PongFrame = {
    op: "pong";
};
export type HeartbeatFrame = {
    op: "heartbeat";
    latest_id: number | null;
};
export type ErrorFrame = {
    op: "error";
    code: string;
    message: string;
};
/**
 * A frame that is not valid JSON or not a v1 server frame.
 */
export type InvalidFrame = {
    op: "invalid";
    reason: string;
};
export type ServerFrame = WelcomeFrame | BatchFrame | SubscriptionFrame | PongFrame | HeartbeatFrame | ErrorFrame | InvalidFrame;
/**
 * Per-connection delivery counters.
 */
export type FeedCounters = {
    /**
     * Batch frames received.
     */
    batches: number;
    /**
     * Distinct events received.
     */
    delivered: number;
    /**
     * Sum of the batches' `dropped` fields.
     */
    dropped: number;
    /**
     * Events the connection should have received, set by the caller.
     */
    matched: number;
    /**
     * Events whose id this connection had already received.
     */
    duplicates: number;
    /**
     * Events whose id was not above the highest id received before.
     */
    reordered: number;
    /**
     * Batch numbers skipped between two batches.
     */
    seqGaps: number;
    /**
     * Batches whose number was not above the previous one.
     */
    seqRegressions: number;
    /**
     * Number of the latest batch, 0 before the first.
     */
    lastSeq: number;
    /**
     * Highest event id received, -1 before the first.
     */
    maxId: number;
    /**
     * Recent ids for duplicate detection, when enabled.
     */
    seenIds: Set<number> | undefined;
};
/**
 * The outcome of one batch for the caller to act on.
 */
export type BatchOutcome = {
    /**
     * ACK message to send, absent when the batch has no number.
     */
    ack: string | undefined;
    /**
     * Events in the frame, duplicates included.
     */
    eventCount: number;
    /**
     * Events not received before.
     */
    newEvents: number;
    /**
     * Per new event: receive time minus publish time, in ms.
     */
    freshnessMs: number[];
    /**
     * Batch numbers skipped before this batch.
     */
    seqGap: number;
};
/**
 * Index from channel to the positions of the published events that match it,
 * for counting matches per connection without a pass over every event.
 */
export type MatchIndex = Map<string, number[]>;
