import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RunResult } from '../bench/lib/run-result.js';
import { gatewayAvailable, type ServerKind } from '../bench/lib/server-under-test.js';

/** A smoke run starts NATS, the server and two generator processes; it takes about 10 s. */
const SMOKE_TIMEOUT_MS = 120_000;

let outDir: string;

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'killfeed-bench-smoke-'));
});

afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

/** Runs `bench/run.ts steady --smoke` against one server and returns its result file. */
async function runSteadySmoke(server: ServerKind): Promise<RunResult> {
  const serverDir = join(outDir, server);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'bench/run.ts', 'steady', '--smoke', '--server', server, '--out', serverDir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));

  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect(exitCode, output.slice(-4000)).toBe(0);

  const files = (await readdir(serverDir)).filter((file) => file.endsWith('.json'));
  expect(files).toHaveLength(1);
  expect((await readdir(serverDir)).some((file) => file.endsWith('.svg'))).toBe(true);
  return JSON.parse(await readFile(join(serverDir, files[0] ?? ''), 'utf8')) as RunResult;
}

function expectBalancedAccounting(result: RunResult): void {
  const readers = result.groups.readers;

  expect(result.connections.failed).toBe(0);
  expect(result.connections.open).toBe(result.plan.connections);
  expect(result.figures.error_total, JSON.stringify(result.error_samples)).toBe(0);
  expect(result.publish.published).toBeGreaterThan(0);

  // Every client is on all:*, so each should match every published kill.
  expect(readers.matched).toBe(result.publish.published * result.plan.connections);
  expect(readers.delivered + readers.dropped).toBe(readers.matched);
  expect(result.accounting.checked_clients).toBe(result.plan.connections);
  expect(result.accounting.unbalanced_clients, JSON.stringify(result.accounting.examples)).toBe(0);
  expect(result.accounting.balanced).toBe(true);
  expect(result.accounting.seq_gaps).toBe(0);
  expect(result.accounting.duplicates).toBe(0);
  expect(result.delivery.complete).toBe(true);

  expect(result.figures.freshness_ms.count).toBe(readers.delivered);
  expect(result.figures.server_cpu_seconds).toBeGreaterThanOrEqual(0);
  expect(result.figures.peak_rss_bytes).toBeGreaterThan(0);
}

describe('steady smoke', () => {
  it(
    'balances delivered plus dropped against matched on the ws peer',
    async () => {
      expectBalancedAccounting(await runSteadySmoke('ws'));
    },
    SMOKE_TIMEOUT_MS,
  );

  it.runIf(gatewayAvailable())(
    'balances delivered plus dropped against matched on the gateway',
    async () => {
      expectBalancedAccounting(await runSteadySmoke('gateway'));
    },
    SMOKE_TIMEOUT_MS,
  );
});
