import { BASE_PLAN, SMOKE_PLAN, type Scenario } from './scenario.js';

export const soak: Scenario = {
  name: 'soak',
  description: '5,000 connections on all:*, 50 kills/s for 30 min, RSS and heap sampled every 10 s',
  full: {
    ...BASE_PLAN,
    publish: { kind: 'rate', ratePerSecond: 50, durationSeconds: 1800, start: { kind: 'first' } },
    sampleIntervalMs: 10_000,
    sampleHeap: true,
  },
  smoke: {
    ...SMOKE_PLAN,
    publish: { kind: 'rate', ratePerSecond: 50, durationSeconds: 10, start: { kind: 'first' } },
    sampleHeap: true,
  },
};
