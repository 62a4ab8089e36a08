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

/** Runs `bench/run.ts steady --smoke` against one server, with extra options, and returns its result file. */
async function runSteadySmoke(server: ServerKind, extraArgs: readonly string[] = []): Promise<RunResult> {
  const serverDir = await mkdtemp(join(outDir, `${server}-`));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'bench/run.ts', 'steady', '--smoke', '--server', server, '--out', serverDir, ...extraArgs],
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

  expect(result.server_process.stop).toBe('exited');
  expect(result.server_process.exit_code).toBe(0);
}

describe('steady smoke', () => {
  it(
    'balances delivered plus dropped against matched on the ws peer',
    async () => {
      const result = await runSteadySmoke('ws');

      // Summary is the default detail; a client that got another shape would record a wrong_detail error.
      expect(result.plan.detail).toBe('summary');
      expectBalancedAccounting(result);
    },
    SMOKE_TIMEOUT_MS,
  );

  it.runIf(gatewayAvailable())(
    'balances delivered plus dropped against matched on the gateway',
    async () => {
      const result = await runSteadySmoke('gateway');

      expect(result.plan.detail).toBe('summary');
      expectBalancedAccounting(result);
    },
    SMOKE_TIMEOUT_MS,
  );

  it.runIf(gatewayAvailable())(
    'balances full-detail events on the gateway',
    async () => {
      const result = await runSteadySmoke('gateway', ['--detail', 'full']);

      expect(result.plan.detail).toBe('full');
      expectBalancedAccounting(result);
    },
    SMOKE_TIMEOUT_MS,
  );

  it(
    'writes the server CPU profile from --server-node-args',
    async () => {
      const profileDir = join(outDir, 'profiles');
      const result = await runSteadySmoke('ws', ['--server-node-args', `--cpu-prof --cpu-prof-dir=${profileDir}`]);

      expect(result.server_process.node_args).toEqual(['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
      expectBalancedAccounting(result);

      // Node writes one profile per thread, named CPU.<date>.<time>.<pid>.<thread>.<sequence>.cpuprofile.
      // Thread 0 is the main thread, and tsx's module loader runs in another thread.
      const profiles = (await readdir(profileDir)).filter((file) => file.includes(`.${result.server_process.pid}.0.`));
      expect(profiles).toHaveLength(1);
      const profile = JSON.parse(await readFile(join(profileDir, profiles[0] ?? ''), 'utf8')) as { nodes?: unknown[] };
      expect(profile.nodes?.length).toBeGreaterThan(0);
    },
    SMOKE_TIMEOUT_MS,
  );
});
