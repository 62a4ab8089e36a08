import { BASE_PLAN, SMOKE_PLAN, type Scenario } from './scenario.js';

export const idle: Scenario = {
  name: 'idle',
  description: '10,000 idle connections on all:* held for 60 s without publishing, for RSS per connection',
  full: {
    ...BASE_PLAN,
    connections: 10_000,
    connectWithinMs: 20_000,
    publish: { kind: 'none' },
    holdSeconds: 60,
  },
  smoke: {
    ...SMOKE_PLAN,
    connections: 100,
    publish: { kind: 'none' },
    holdSeconds: 3,
  },
};
