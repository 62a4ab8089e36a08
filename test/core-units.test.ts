import fc from 'fast-check';
import { unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { encodeBatch } from '../src/batch-encoder.js';
import { ChannelIndex } from '../src/channel-index.js';
import { FeedEvent } from '../src/feed-event.js';
import { FlushScheduler } from '../src/flush-scheduler.js';
import { IntervalController } from '../src/interval-controller.js';
import type { Kill } from '../src/kill.js';
import { RingBuffer } from '../src/ring-buffer.js';

describe('RingBuffer', () => {
  it('keeps the newest items in order and reports evictions', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.integer(), { maxLength: 100 }), (capacity, items) => {
        const ring = new RingBuffer<number>(capacity);
        let evictions = 0;
        for (const item of items) if (ring.push(item)) evictions += 1;

        expect(evictions).toBe(Math.max(0, items.length - capacity));
        expect(ring.drain()).toEqual(items.slice(-capacity));
        expect(ring.size).toBe(0);
      }),
    );
  });

  it('rejects a non-positive capacity', () => {
    expect(() => new RingBuffer(0)).toThrow(RangeError);
  });
});

describe('ChannelIndex', () => {
  it('visits each subscriber once per event across channels', () => {
    const index = new ChannelIndex<{ lastMatchedEventId: number; name: string }>();
    const a = { lastMatchedEventId: 0, name: 'a' };
    const b = { lastMatchedEventId: 0, name: 'b' };
    index.add('all:*', a);
    index.add('region:1', a);
    index.add('region:1', b);
    index.add('system:2', b);

    const visited: string[] = [];
    index.match(1, ['all:*', 'region:1', 'system:2'], (s) => visited.push(s.name));
    expect(visited.sort()).toEqual(['a', 'b']);

    visited.length = 0;
    index.remove('region:1', b);
    index.match(2, ['region:1'], (s) => visited.push(s.name));
    expect(visited).toEqual(['a']);
    expect(index.subscriberCount('region:1')).toBe(1);
  });

  it('drops a channel when its last subscriber leaves', () => {
    const index = new ChannelIndex<{ lastMatchedEventId: number }>();
    const a = { lastMatchedEventId: 0 };
    index.add('alliance:5', a);
    index.remove('alliance:5', a);
    expect(index.channelCount).toBe(0);
  });
});

describe('IntervalController', () => {
  const settings = { budgetMs: 250, minMs: 20, maxMs: 1000, startMs: 100 };

  it('starts at the start interval', () => {
    expect(new IntervalController(settings, { ms: 0 }).intervalMs).toBe(100);
  });

  it('lowers the interval as ACK latency rises and recovers as it falls', () => {
    const controller = new IntervalController(settings, { ms: 0 });
    controller.observe(50);
    expect(controller.intervalMs).toBe(200);

    for (let i = 0; i < 30; i += 1) controller.observe(200);
    expect(controller.intervalMs).toBeLessThan(60);

    for (let i = 0; i < 30; i += 1) controller.observe(500);
    expect(controller.intervalMs).toBe(20);

    for (let i = 0; i < 60; i += 1) controller.observe(5);
    expect(controller.intervalMs).toBeGreaterThan(240);
  });

  it('never goes below the shared floor', () => {
    const floor = { ms: 0 };
    const controller = new IntervalController(settings, floor);
    controller.observe(240);
    expect(controller.intervalMs).toBe(20);
    floor.ms = 250;
    expect(controller.intervalMs).toBe(250);
  });
});

describe('FlushScheduler', () => {
  it('fires each item once at or after its deadline', () => {
    let now = 1_000_000;
    const fired: Array<[string, number]> = [];
    const scheduler = new FlushScheduler<{ flushDueAt: number; flushSlot: number; name: string }>((item) => fired.push([item.name, now]), 5, 16, () => now);
    const a = { flushDueAt: 0, flushSlot: -1, name: 'a' };
    const b = { flushDueAt: 0, flushSlot: -1, name: 'b' };

    scheduler.schedule(a, now + 12);
    scheduler.schedule(b, now + 200);
    scheduler.schedule(a, now + 30);
    for (let step = 0; step < 60; step += 1) {
      now += 5;
      scheduler.runDue();
    }
    scheduler.stop();

    expect(fired.map(([name]) => name)).toEqual(['a', 'b']);
    expect(fired[0]?.[1]).toBeGreaterThanOrEqual(1_000_030);
    expect(fired[1]?.[1]).toBeGreaterThanOrEqual(1_000_200);
    expect(scheduler.size).toBe(0);
  });

  it('fires an item rescheduled from its own callback again later', () => {
    let now = 1_000;
    const firedAt: number[] = [];
    const item = { flushDueAt: 0, flushSlot: -1 };
    const scheduler = new FlushScheduler<typeof item>(
      (due) => {
        firedAt.push(now);
        if (firedAt.length === 1) scheduler.schedule(due, now + 10);
      },
      5,
      16,
      () => now,
    );

    scheduler.schedule(item, now + 5);
    for (let step = 0; step < 10; step += 1) {
      now += 5;
      scheduler.runDue();
    }
    scheduler.stop();

    expect(firedAt).toEqual([1_005, 1_015]);
    expect(scheduler.size).toBe(0);
    expect(item.flushSlot).toBe(-1);
  });

  it('does not fire a cancelled item', () => {
    let now = 0;
    const fired: string[] = [];
    const scheduler = new FlushScheduler<{ flushDueAt: number; flushSlot: number }>(() => fired.push('x'), 5, 16, () => now);
    const item = { flushDueAt: 0, flushSlot: -1 };
    scheduler.schedule(item, 10);
    scheduler.cancel(item);
    now = 100;
    scheduler.runDue();
    scheduler.stop();
    expect(fired).toEqual([]);
  });
});

describe('encodeBatch', () => {
  const kill = {
    killmail: { killmail_id: 7, killmail_time: '2021-11-28T00:00:32Z', solar_system_id: 30000142, victim: { ship_type_id: 587 }, attackers: [{ ship_type_id: 603 }] },
    killmailId: 7,
    channels: ['all:*'],
    summary: { killmail_id: 7, killmail_time: '2021-11-28T00:00:32Z', solar_system_id: 30000142, victim: { ship_type_id: 587 }, attacker_count: 1 },
  } as unknown as Kill;

  it('produces the same batch in JSON and msgpack', () => {
    const events = Array.from({ length: 20 }, (_, i) => new FeedEvent(i + 1, 1_700_000_000_000 + i, kill, i % 2 === 0 ? 1_700_000_000_000 : undefined));
    for (const detail of ['full', 'summary'] as const) {
      const json = JSON.parse(encodeBatch(3, 4, events, 'json', detail).toString('utf8')) as unknown;
      const msgpack = unpack(encodeBatch(3, 4, events, 'msgpack', detail)) as unknown;
      expect(msgpack).toEqual(json);
      expect(json).toMatchObject({ op: 'batch', seq: 3, dropped: 4 });
      expect((json as { events: unknown[] }).events).toEqual(events.map((event) => event.toWire(detail)));
    }
  });

  it('reuses one scratch buffer across frames', () => {
    const events = [new FeedEvent(1, 1, kill)];
    const first = encodeBatch(1, 0, events, 'json', 'full');
    const second = encodeBatch(2, 0, events, 'json', 'full');
    expect(second.buffer).toBe(first.buffer);
    expect(JSON.parse(second.toString('utf8'))).toMatchObject({ seq: 2 });
  });

  it('encodes an event once per format and detail', () => {
    const event = new FeedEvent(1, 1, kill);
    expect(event.encoded('json', 'full')).toBe(event.encoded('json', 'full'));
    expect(event.encoded('msgpack', 'summary')).toBe(event.encoded('msgpack', 'summary'));
  });
});
