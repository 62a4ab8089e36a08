// @ts-check
/**
 * Steady load: CONNECTIONS clients on CHANNELS (default all:*) hold their
 * sockets while a publisher replays the corpus at a fixed rate, for example
 * `npx tsx bench/publish.ts --nats-url nats://127.0.0.1:4222 --rate 50 --duration 120`.
 *
 * Environment: KILLFEED_URL (default ws://127.0.0.1:8080/v1/feed),
 * CONNECTIONS (5000), RAMP_S (30), HOLD_S (120), ACK_DELAY_MS (0),
 * CHANNELS, DETAIL, FRESHNESS_P99_MS (1000), ERROR_RATE (0.01).
 */
import { feedUrlFromEnv, numberFromEnv, runFeedSession } from './lib/feed-session.js';

const connections = numberFromEnv('CONNECTIONS', 5000);
const rampSeconds = numberFromEnv('RAMP_S', 30);
const holdSeconds = numberFromEnv('HOLD_S', 120);

// Pass/fail targets for the run, not measured figures.
const freshnessP99Ms = numberFromEnv('FRESHNESS_P99_MS', 1000);
const maxErrorRate = numberFromEnv('ERROR_RATE', 0.01);

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: {
    // ramping-vus, not ramping-arrival-rate: each client is one socket held
    // for the whole test, so the load is the number of concurrent sockets.
    // An arrival rate sets iterations per second, which for sockets that
    // never end only describes the ramp.
    steady: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: `${rampSeconds}s`, target: connections },
        { duration: `${holdSeconds}s`, target: connections },
      ],
      gracefulRampDown: '5s',
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
  // Each VU keeps one socket until the end of the test, so the held time
  // covers the rest of the ramp and the whole hold stage.
  runFeedSession({ url, holdMs: (rampSeconds + holdSeconds) * 1000, acknowledge: true, ackDelayMs });
}
