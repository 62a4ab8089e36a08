// @ts-check
/**
 * One k6 WebSocket client of the feed, with the metrics that the k6 scripts
 * put thresholds on. Protocol handling comes from killfeed-protocol.js.
 */
import { Counter, Rate, Trend } from 'k6/metrics';
import { setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';

import { DEFAULT_FEED_URL, applyBatch, buildFeedUrl, createFeedCounters, parseFrame } from './killfeed-protocol.js';

/** Receive time minus publish time of each event, in ms. */
export const freshness = new Trend('killfeed_freshness_ms', true);
/** Time from opening the socket to the welcome frame, in ms. */
export const connectTime = new Trend('killfeed_connect_ms', true);
/** Events per batch frame. */
export const batchEvents = new Trend('killfeed_batch_events');
export const deliveredEvents = new Counter('killfeed_events_delivered');
export const droppedEvents = new Counter('killfeed_events_dropped');
/**
 * Share of failed checks: connect errors, unexpected closes, error and
 * invalid frames, and batches that skipped sequence numbers.
 */
export const errors = new Rate('killfeed_errors');

/**
 * @typedef {object} FeedSessionOptions
 * @property {string} url Feed URL with its query.
 * @property {number} holdMs Time to keep the socket open, in ms.
 * @property {boolean} acknowledge Whether to ACK batches. A client that never ACKs gets at most 2 batches.
 * @property {number} ackDelayMs Delay before each ACK, in ms.
 */

/**
 * Reads the target URL from KILLFEED_URL and the query from CHANNELS
 * (comma-separated), FORMAT and DETAIL.
 * @param {string} defaultChannels
 * @returns {string}
 */
export function feedUrlFromEnv(defaultChannels) {
  const channels = (__ENV.CHANNELS || defaultChannels)
    .split(',')
    .map((channel) => channel.trim())
    .filter((channel) => channel.length > 0);
  const detail = __ENV.DETAIL === 'summary' ? 'summary' : 'full';

  // The scripts parse JSON text frames only, so the format is fixed.
  return buildFeedUrl(__ENV.KILLFEED_URL || DEFAULT_FEED_URL, { format: 'json', channels, detail });
}

/**
 * Reads a non-negative number from the environment variable `name`.
 * @param {string} name
 * @param {number} fallback
 * @returns {number}
 */
export function numberFromEnv(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;

  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`invalid ${name}=${raw}: expected a non-negative number`);
  }
  return value;
}

/**
 * Opens one feed connection, records its metrics until `holdMs` has passed,
 * then closes it. The k6 iteration ends when the socket has closed.
 * @param {FeedSessionOptions} options
 */
export function runFeedSession(options) {
  const openedAt = Date.now();
  const counters = createFeedCounters();
  let closing = false;

  const ws = new WebSocket(options.url);

  /** @param {string} message */
  const send = (message) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(message);
  };

  ws.onmessage = (event) => {
    if (event === undefined || typeof event.data !== 'string') {
      errors.add(true, { reason: 'binary_frame' });
      return;
    }

    const frame = parseFrame(event.data);
    switch (frame.op) {
      case 'welcome':
        connectTime.add(Date.now() - openedAt);
        errors.add(false);
        break;
      case 'batch': {
        const outcome = applyBatch(counters, frame, Date.now());
        for (const value of outcome.freshnessMs) freshness.add(value);
        batchEvents.add(outcome.eventCount);
        deliveredEvents.add(outcome.newEvents);
        droppedEvents.add(frame.dropped);
        errors.add(outcome.seqGap > 0, { reason: 'seq_gap' });

        const ack = outcome.ack;
        if (ack === undefined || !options.acknowledge) break;
        if (options.ackDelayMs > 0) {
          setTimeout(() => send(ack), options.ackDelayMs);
        } else {
          send(ack);
        }
        break;
      }
      case 'error':
        errors.add(true, { reason: 'error_frame' });
        console.warn(`feed error frame: code=${frame.code} message=${frame.message}`);
        break;
      case 'invalid':
        errors.add(true, { reason: 'invalid_frame' });
        console.warn(`invalid feed frame: ${frame.reason}`);
        break;
      default:
        break;
    }
  };

  ws.onerror = (event) => {
    errors.add(true, { reason: 'socket_error' });
    if (event !== undefined) console.warn(`feed socket error: ${event.error}`);
  };

  ws.onclose = () => {
    if (!closing) errors.add(true, { reason: 'closed_by_server' });
  };

  setTimeout(() => {
    closing = true;
    ws.close();
  }, options.holdMs);
}
