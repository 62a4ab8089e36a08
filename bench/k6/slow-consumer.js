// @ts-check
/**
 * Slow consumers: most clients read and ACK normally, and SLOW_SHARE of them
 * never ACK. The gateway sends at most 2 unacknowledged batches, so the
 * stalled clients should not slow the readers down: the freshness threshold
 * applies to the readers only. Run a publisher alongside, for example
 * `npx tsx bench/publish.ts --nats-url nats://127.0.0.1:4222 --rate 50 --duration 120`.
 *
 * k6 cannot stop reading a socket, so a client that stops ACKing is the
 * closest model of one that stops reading. bench/run.ts `slow` pauses real
 * sockets to build TCP backpressure.
 *
 * Environment: KILLFEED_URL (default ws://127.0.0.1:8080/v1/feed),
 * CONNECTIONS (2000), SLOW_SHARE (0.1), RAMP_S (20), HOLD_S (120),
 * ACK_DELAY_MS (0), CHANNELS, DETAIL, FRESHNESS_P99_MS (1000), ERROR_RATE (0.01).
 */
import { feedUrlFromEnv, numberFromEnv, runFeedSession } from './lib/feed-session.js';

const connections = numberFromEnv('CONNECTIONS', 2000);
const slowShare = Math.min(1, numberFromEnv('SLOW_SHARE', 0.1));
const rampSeconds = numberFromEnv('RAMP_S', 20);
const holdSeconds = numberFromEnv('HOLD_S', 120);

const slowConnections = Math.round(connections * slowShare);
const readerConnections = connections - slowConnections;

// Pass/fail targets for the run, not measured figures.
const freshnessP99Ms = numberFromEnv('FRESHNESS_P99_MS', 1000);
const maxErrorRate = numberFromEnv('ERROR_RATE', 0.01);

/**
 * ramping-vus, not ramping-arrival-rate: each client is one socket held for
 * the whole test, so the load is the number of concurrent sockets.
 * @param {number} target
 * @param {string} exec
 * @returns {import('k6/options').RampingVUsScenario}
 */
function heldSockets(target, exec) {
  return {
    executor: 'ramping-vus',
    exec,
    startVUs: 0,
    stages: [
      { duration: `${rampSeconds}s`, target },
      { duration: `${holdSeconds}s`, target },
    ],
    gracefulRampDown: '5s',
  };
}

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: {
    readers: heldSockets(readerConnections, 'reader'),
    stalled: heldSockets(Math.max(slowConnections, 0), 'stalled'),
  },
  thresholds: {
    // Samples carry the scenario tag, so this threshold covers the readers only.
    'killfeed_freshness_ms{scenario:readers}': [`p(99)<${freshnessP99Ms}`],
    'killfeed_errors{scenario:readers}': [`rate<${maxErrorRate}`],
  },
};

const url = feedUrlFromEnv('all:*');
const ackDelayMs = numberFromEnv('ACK_DELAY_MS', 0);
const holdMs = (rampSeconds + holdSeconds) * 1000;

export function reader() {
  runFeedSession({ url, holdMs, acknowledge: true, ackDelayMs });
}

export function stalled() {
  runFeedSession({ url, holdMs, acknowledge: false, ackDelayMs: 0 });
}
