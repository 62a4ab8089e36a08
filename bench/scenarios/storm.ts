import { BASE_PLAN, SMOKE_PLAN, type Scenario } from './scenario.js';

export const storm: Scenario = {
  name: 'storm',
  description: '10,000 connects within 2 s, then 50 kills/s for 10 s to check delivery',
  full: {
    ...BASE_PLAN,
    connections: 10_000,
    connectWithinMs: 2000,
    publish: { kind: 'rate', ratePerSecond: 50, durationSeconds: 10, start: { kind: 'first' } },
  },
  smoke: {
    ...SMOKE_PLAN,
    connections: 200,
    connectWithinMs: 200,
    publish: { kind: 'rate', ratePerSecond: 50, durationSeconds: 2, start: { kind: 'first' } },
  },
};
