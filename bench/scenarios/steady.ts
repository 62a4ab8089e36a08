import { BASE_PLAN, SMOKE_PLAN, type Scenario } from './scenario.js';

export const steady: Scenario = {
  name: 'steady',
  description: '5,000 connections on all:*, 50 kills/s for 60 s',
  full: { ...BASE_PLAN },
  smoke: { ...SMOKE_PLAN },
};
