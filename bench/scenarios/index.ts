import { burst } from './burst.js';
import { filtered } from './filtered.js';
import { idle } from './idle.js';
import type { Scenario } from './scenario.js';
import { slow } from './slow.js';
import { soak } from './soak.js';
import { steady } from './steady.js';
import { storm } from './storm.js';

export const SCENARIOS: readonly Scenario[] = [steady, burst, filtered, slow, storm, soak, idle];

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((scenario) => scenario.name === name);
}
