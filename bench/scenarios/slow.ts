import { BASE_PLAN, SMOKE_PLAN, type Scenario } from './scenario.js';

export const slow: Scenario = {
  name: 'slow',
  description: '5,000 connections on all:*, 10 % never read while 50 kills/s are published for 60 s',
  full: { ...BASE_PLAN, slowShare: 0.1, resumeSlow: true },
  smoke: { ...SMOKE_PLAN, slowShare: 0.1, resumeSlow: true },
};
