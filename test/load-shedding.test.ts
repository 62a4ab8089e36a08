import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedClient } from './support/feed-client.js';
import { eventually, metricValue, startGateway, type TestGateway } from './support/gateway.js';
import { NatsServer } from './support/nats-server.js';

let nats: NatsServer;
let tg: TestGateway;

beforeAll(async () => {
  nats = await NatsServer.start();
  // The threshold sits well above the lag a busy test machine shows on its own,
  // and the overload below well above the threshold.
  tg = await startGateway(nats.url, { lagThresholdMs: 40, sheddingIntervalMs: 400 });
});

afterAll(async () => {
  await tg.stop();
  await nats.dispose();
});

/** Keeps the event loop busy in 150 ms slices, yielding between them, for `durationMs`. */
async function overloadEventLoop(durationMs: number): Promise<void> {
  const end = Date.now() + durationMs;
  while (Date.now() < end) {
    const sliceEnd = Date.now() + 150;
    while (Date.now() < sliceEnd) {
      // busy
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

describe('load shedding', () => {
  it('raises every interval while the loop lags and says so once', async () => {
    const client = await FeedClient.connect(tg.feedUrl('channels=all:*'));
    const id = (await client.waitForOp('welcome')).connection_id as string;
    const metricsUrl = tg.httpUrl('/metrics');

    await overloadEventLoop(3000);
    await eventually(() => tg.gateway.hub.intervalFloor.ms === 400, 10_000, 'shedding to start');
    expect(tg.gateway.hub.findConnection(id)?.interval.intervalMs).toBe(400);
    expect(await metricValue(metricsUrl, 'killfeed_load_shedding')).toBe(1);
    expect(await metricValue(metricsUrl, 'killfeed_flush_interval_floor_seconds')).toBe(0.4);

    await eventually(() => tg.gateway.hub.intervalFloor.ms === 0, 20_000, 'shedding to stop');
    expect(await metricValue(metricsUrl, 'killfeed_load_shedding')).toBe(0);
    expect(tg.gateway.hub.findConnection(id)?.interval.intervalMs).toBe(100);

    const messages = tg.logs.map((entry) => entry.msg);
    expect(messages.filter((msg) => msg === 'load shedding started')).toHaveLength(1);
    expect(messages.filter((msg) => msg === 'load shedding stopped')).toHaveLength(1);
    const started = tg.logs.find((entry) => entry.msg === 'load shedding started');
    expect(started?.level).toBe(40);
    expect(started?.minIntervalMs).toBe(400);
    client.close();
  }, 60_000);
});
