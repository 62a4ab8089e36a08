import { BASE_PLAN, SMOKE_PLAN, type Scenario } from './scenario.js';

/** Centre of the burst window: the corpus's busiest minute (62 kills at 01:44 UTC). */
const BURST_CENTRE = '2021-11-28T01:44';

export const burst: Scenario = {
  name: 'burst',
  description: '1,000 kills in 1 s, centred on the 01:44 spike, to 5,000 connections on all:*',
  full: {
    ...BASE_PLAN,
    publish: { kind: 'rate', ratePerSecond: 1000, durationSeconds: 1, start: { kind: 'around', time: BURST_CENTRE } },
  },
  smoke: {
    ...SMOKE_PLAN,
    publish: { kind: 'rate', ratePerSecond: 200, durationSeconds: 1, start: { kind: 'around', time: BURST_CENTRE } },
  },
};
