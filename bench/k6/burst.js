// @ts-check
/**
 * Burst: CONNECTIONS clients connect at CONNECT_RATE per second and hold
 * their sockets while a publisher sends 1,000 kills in one second, for
 * example `npx tsx bench/publish.ts --nats-url nats://127.0.0.1:4222 --burst 1000 --delay 40`
 * started together with this script.
 *
 * Environment: KILLFEED_URL (default ws://127.0.0.1:8080/v1/feed),
 * CONNECTIONS (5000), CONNECT_RATE (500), HOLD_S (90), ACK_DELAY_MS (0),
 * CHANNELS, DETAIL, FRESHNESS_P99_MS (5000), ERROR_RATE (0.01).
 */
import { feedUrlFromEnv, numberFromEnv, runFeedSession } from './lib/feed-session.js';

const connections = numberFromEnv('CONNECTIONS', 5000);
const connectRate = Math.max(1, numberFromEnv('CONNECT_RATE', 500));
const holdSeconds = numberFromEnv('HOLD_S', 90);
const connectSeconds = Math.ceil(connections / connectRate);

// Pass/fail targets for the run, not measured figures.
const freshnessP99Ms = numberFromEnv('FRESHNESS_P99_MS', 5000);
const maxErrorRate = numberFromEnv('ERROR_RATE', 0.01);

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: {
    // The arrival rate sets the connect rate. Each iteration holds its socket
    // until HOLD_S, so the last stage at rate 0 only keeps the scenario alive
    // while the sockets stay open.
    burst: {
      executor: 'ramping-arrival-rate',
      startRate: connectRate,
      timeUnit: '1s',
      preAllocatedVUs: connections,
      maxVUs: connections,
      stages: [
        { duration: `${connectSeconds}s`, target: connectRate },
        { duration: '0s', target: 0 },
        { duration: `${holdSeconds}s`, target: 0 },
      ],
      gracefulStop: '10s',
    },
  },
  thresholds: {
    killfeed_freshness_ms: [`p(99)<${freshnessP99Ms}`],
    killfeed_errors: [`rate<${maxErrorRate}`],
  },
};

const url = feedUrlFromEnv('all:*');
const ackDelayMs = numberFromEnv('ACK_DELAY_MS', 0);

export default function () {
  runFeedSession({ url, holdMs: holdSeconds * 1000, acknowledge: true, ackDelayMs });
}
