/**
 * Runs one benchmark scenario against one server or all of them:
 *
 *   npx tsx bench/run.ts <scenario> [--server gateway|ws|socketio|uws-per-event|uws-batched|all]
 *                                   [--connections N] [--duration S] [--smoke]
 *                                   [--detail full|summary] [--server-node-args "<flags>"]
 *
 * Each run starts its own nats-server on a free loopback port, the server
 * under test as a child process, and the load generator, then writes
 * bench/results/<scenario>-<server>-<timestamp>.json and an SVG chart.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';

import { fileTimestamp, writeRunResult, type RunResult } from './lib/run-result.js';
import { runScenario } from './lib/scenario-runner.js';
import { SERVER_KINDS, gatewayAvailable, parseNodeArgs, type ServerKind } from './lib/server-under-test.js';
import { renderScenarioChart } from './lib/svg-chart.js';
import { SCENARIOS, findScenario } from './scenarios/index.js';
import type { FeedDetail } from './k6/lib/killfeed-protocol.js';
import { BASE_PLAN, type ScenarioPlan } from './scenarios/scenario.js';

const DEFAULT_OUT_DIR = fileURLToPath(new URL('./results/', import.meta.url));

const DETAILS: readonly FeedDetail[] = ['full', 'summary'];

interface CliOptions {
  server: ServerKind | 'all';
  connections?: number;
  duration?: number;
  smoke: boolean;
  detail?: FeedDetail;
  serverNodeArgs: string[];
  workers: number;
  seed: number;
  out: string;
}

function positiveInteger(raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new InvalidArgumentError(`invalid value ${raw}: expected a positive integer`);
  return value;
}

function positiveNumber(raw: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(`invalid value ${raw}: expected a positive number`);
  return value;
}

function serverOption(raw: string): ServerKind | 'all' {
  if (raw === 'all' || (SERVER_KINDS as readonly string[]).includes(raw)) return raw as ServerKind | 'all';
  throw new InvalidArgumentError(`unknown server ${raw}: expected one of ${[...SERVER_KINDS, 'all'].join(', ')}`);
}

function detailOption(raw: string): FeedDetail {
  if ((DETAILS as readonly string[]).includes(raw)) return raw as FeedDetail;
  throw new InvalidArgumentError(`invalid detail ${raw}: expected one of ${DETAILS.join(', ')}`);
}

function nodeArgsOption(raw: string): string[] {
  try {
    return parseNodeArgs(raw);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

/** Applies --connections, --duration and --detail to a scenario plan. */
function applyOverrides(plan: ScenarioPlan, options: CliOptions): ScenarioPlan {
  const result: ScenarioPlan = { ...plan };
  if (options.connections !== undefined) result.connections = options.connections;
  if (options.detail !== undefined) result.detail = options.detail;
  if (options.duration !== undefined) {
    if (result.publish.kind === 'rate') {
      result.publish = { ...result.publish, durationSeconds: options.duration };
    } else {
      result.holdSeconds = options.duration;
    }
  }
  return result;
}

function serversToRun(choice: ServerKind | 'all'): ServerKind[] {
  if (choice !== 'all') {
    if (choice === 'gateway' && !gatewayAvailable()) throw new Error('cannot run the gateway: src/cli.ts does not exist');
    return [choice];
  }
  return SERVER_KINDS.filter((kind) => kind !== 'gateway' || gatewayAvailable());
}

/** Describes the plan actually run, which --smoke, --connections, --duration and --detail change. */
function describePlan(plan: ScenarioPlan): string {
  const parts = [
    `${plan.connections} connections (${plan.channelMix === 'all' ? 'all:*' : '1–3 channels each'})`,
    `detail=${plan.detail}`,
  ];
  if (plan.slowShare > 0) parts.push(`${Math.round(plan.slowShare * 100)} % never read`);
  if (plan.publish.kind === 'rate') {
    parts.push(`${plan.publish.ratePerSecond} kills/s for ${plan.publish.durationSeconds} s`);
  } else {
    parts.push(`held ${plan.holdSeconds} s without publishing`);
  }
  return parts.join(', ');
}

function summaryLine(result: RunResult): string {
  const figures = result.figures;
  return [
    result.server.padEnd(14),
    `detail ${result.plan.detail}`,
    `open ${result.connections.open}/${result.connections.requested}`,
    `delivered/s ${figures.delivered_events_per_second ?? 'n/a'}`,
    `cpu s/M ${figures.server_cpu_seconds_per_million_delivered ?? 'n/a'}`,
    `freshness p50/p99/max ${figures.freshness_ms.p50 ?? '-'}/${figures.freshness_ms.p99 ?? '-'}/${figures.freshness_ms.max ?? '-'} ms`,
    `peak RSS ${(figures.peak_rss_bytes / 1048576).toFixed(1)} MiB`,
    `RSS/conn ${figures.rss_per_connection_bytes === null ? 'n/a' : `${figures.rss_per_connection_bytes} B`}`,
    `dropped ${figures.dropped_events}`,
    `errors ${figures.error_total}`,
    `balanced ${result.accounting.balanced}`,
  ].join('  ');
}

function chartSubtitle(timestamp: string, serverNodeArgs: readonly string[]): string {
  const subtitle = `${timestamp}; the load generator, NATS and the server share one machine`;
  if (serverNodeArgs.length === 0) return subtitle;
  return `${subtitle}; server Node flags: ${serverNodeArgs.join(' ')}`;
}

async function main(): Promise<void> {
  const program = new Command()
    .name('bench')
    .description('Run a Killfeed benchmark scenario against the gateway and the comparison servers')
    .argument('<scenario>', `scenario: ${SCENARIOS.map((scenario) => scenario.name).join(', ')}`)
    .option('--server <kind>', `server under test: ${[...SERVER_KINDS, 'all'].join(', ')}`, serverOption, 'all')
    .option('--connections <n>', 'number of client connections (overrides the scenario)', positiveInteger)
    .option('--duration <seconds>', 'publish duration, or hold time for idle, in seconds (overrides the scenario)', positiveNumber)
    .option('--smoke', 'run the tiny CI variant of the scenario', false)
    .option(
      '--detail <level>',
      `event detail level that every client requests and every server sends: ${DETAILS.join(' or ')} (default: ${BASE_PLAN.detail})`,
      detailOption,
    )
    .option(
      '--server-node-args <flags>',
      'space-separated Node flags for the server process only, such as "--cpu-prof --cpu-prof-dir=bench/results/profiles"',
      nodeArgsOption,
      [],
    )
    .option('--workers <n>', 'load generator processes', positiveInteger, 2)
    .option('--seed <n>', 'seed of the channel draw', positiveInteger, 1)
    .option('--out <dir>', 'directory for results, charts and server logs', DEFAULT_OUT_DIR)
    .parse();

  const scenarioName = program.args[0] ?? '';
  const scenario = findScenario(scenarioName);
  if (scenario === undefined) {
    throw new Error(`unknown scenario ${scenarioName}: expected one of ${SCENARIOS.map((s) => s.name).join(', ')}`);
  }

  const options = program.opts<CliOptions>();
  const variant = options.smoke ? 'smoke' : 'full';
  const plan = applyOverrides(options.smoke ? scenario.smoke : scenario.full, options);
  const servers = serversToRun(options.server);
  const timestamp = fileTimestamp();
  const logger = pino({ base: { service: 'killfeed-bench' } }, pino.destination(2));

  await mkdir(options.out, { recursive: true });
  logger.info(
    { scenario: scenario.name, variant, servers, connections: plan.connections, detail: plan.detail, serverNodeArgs: options.serverNodeArgs },
    'benchmark started',
  );

  const results: RunResult[] = [];
  const failures: ServerKind[] = [];
  for (const server of servers) {
    let result: RunResult;
    try {
      result = await runScenario({
        scenario,
        plan,
        variant,
        server,
        workers: options.workers,
        seed: options.seed,
        serverNodeArgs: options.serverNodeArgs,
        logDir: options.out,
        timestamp,
        logger: logger.child({ scenario: scenario.name, server }),
      });
    } catch (err) {
      // One server failing to start or run does not stop the runs of the others.
      failures.push(server);
      logger.error({ err, server }, 'run failed');
      continue;
    }
    const path = await writeRunResult(options.out, result, timestamp);
    results.push(result);
    logger.info({ server, path }, 'result written');
    console.log(summaryLine(result));
  }

  const chartName = servers.length === 1 ? `${scenario.name}-${servers[0]}-${timestamp}.svg` : `${scenario.name}-${timestamp}.svg`;
  const chart = renderScenarioChart(
    `${scenario.name} (${variant}): ${describePlan(plan)}`,
    chartSubtitle(timestamp, options.serverNodeArgs),
    results.map((result) => ({
      server: result.server,
      eventsPerSecond: result.figures.delivered_events_per_second ?? undefined,
      cpuSecondsPerMillion: result.figures.server_cpu_seconds_per_million_delivered ?? undefined,
      freshnessP99Ms: result.figures.freshness_ms.p99,
    })),
  );
  await writeFile(join(options.out, chartName), chart);
  logger.info({ chart: join(options.out, chartName), failures }, 'benchmark finished');
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
