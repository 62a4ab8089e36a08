import { BASE_PLAN, SMOKE_PLAN, type Scenario } from './scenario.js';

export const filtered: Scenario = {
  name: 'filtered',
  description: '10,000 connections on 1–3 alliance/system/region channels each, 200 kills/s for 60 s',
  full: {
    ...BASE_PLAN,
    connections: 10_000,
    channelMix: 'filtered',
    connectWithinMs: 20_000,
    publish: { kind: 'rate', ratePerSecond: 200, durationSeconds: 60, start: { kind: 'first' } },
  },
  smoke: {
    ...SMOKE_PLAN,
    connections: 100,
    channelMix: 'filtered',
    publish: { kind: 'rate', ratePerSecond: 100, durationSeconds: 5, start: { kind: 'first' } },
  },
};
