import { join } from 'node:path';

import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';

import { NatsServer, freePort } from '../../test/support/nats-server.js';
import type { FeedDetail } from '../k6/lib/killfeed-protocol.js';
import type { Scenario, ScenarioPlan } from '../scenarios/scenario.js';
import { drawFilteredChannelSets, seededRandom } from './channel-mix.js';
import { DEFAULT_CORPUS_PATH, loadCorpus, windowAround, type CorpusKill } from './corpus.js';
import { FeedClient } from './feed-client.js';
import { Histogram } from './histogram.js';
import { LoadGenerator } from './load-generator.js';
import { ProcessSampler, type ProcessSample } from './process-sampler.js';
import { publishAtRate, publishKill } from './publisher.js';
import { buildRunResult, type RunResult } from './run-result.js';
import { ServerUnderTest, type ServerKind } from './server-under-test.js';
import type { ClientPlan } from './worker-messages.js';

export interface RunOptions {
  scenario: Scenario;
  plan: ScenarioPlan;
  variant: 'full' | 'smoke';
  server: ServerKind;
  workers: number;
  /** Seed of the channel draw and the choice of slow clients. */
  seed: number;
  /** Node flags for the server process only, such as `--cpu-prof`. */
  serverNodeArgs: readonly string[];
  /** Directory for the server's log file. */
  logDir: string;
  timestamp: string;
  logger: Logger;
}

/** Time a client gets from opening its socket to the welcome frame, in ms. */
const CONNECT_TIMEOUT_MS = 30_000;
/** A drain ends early when no event has arrived for this long, in ms. */
const DRAIN_QUIET_MS = 5000;
const WARM_UP_TIMEOUT_MS = 20_000;
/**
 * killmail_id of the first warm-up kill; each repeat adds 1. Far above the
 * corpus ids and the ids of looped passes, so the gateway's duplicate filter
 * never confuses a warm-up kill with a measured one.
 */
const WARM_UP_ID_BASE = 9_000_000_000_000;

/**
 * Runs one scenario against one server: starts NATS and the server, checks
 * the path from NATS to a client with a probe, connects the generator's
 * clients, publishes, waits for the last events, and collects the figures.
 * Every process it starts is stopped before it returns or throws.
 */
export async function runScenario(options: RunOptions): Promise<RunResult> {
  const { plan, logger } = options;
  const startedAtMs = Date.now();
  const corpus = loadCorpus();

  const nats = await NatsServer.start();
  let server: ServerUnderTest | undefined;
  let generator: LoadGenerator | undefined;
  let nc: NatsConnection | undefined;
  let sampler: ProcessSampler | undefined;
  let heapTimer: NodeJS.Timeout | undefined;

  try {
    const port = await freePort();
    const logPath = join(options.logDir, `${options.scenario.name}-${options.server}-${options.timestamp}.log`);
    server = await ServerUnderTest.start({
      kind: options.server,
      port,
      natsUrl: nats.url,
      detail: plan.detail,
      nodeArgs: options.serverNodeArgs,
      logPath,
    });
    const serverPid = server.pid;
    logger.info({ port, pid: serverPid, detail: plan.detail, nodeArgs: options.serverNodeArgs, logPath }, 'server started');

    sampler = new ProcessSampler(server.pid, plan.sampleIntervalMs);
    sampler.start();
    const heapSamples: Array<{ atMs: number; heapUsedBytes: number }> = [];
    if (plan.sampleHeap) {
      const target = server;
      heapTimer = setInterval(() => {
        void target.heapUsedBytes().then((heapUsedBytes) => {
          if (heapUsedBytes !== undefined) heapSamples.push({ atMs: Date.now(), heapUsedBytes });
        });
      }, plan.sampleIntervalMs);
    }

    nc = await connect({ servers: nats.url, name: 'killfeed-bench-publisher' });
    await warmUp(server, nc, corpus, plan.detail);
    const baseline = await sampler.sample();

    // Connect phase.
    const clients = planClients(plan, corpus, options.seed);
    generator = await LoadGenerator.start({
      transport: server.transport,
      url: server.feedUrl,
      detail: plan.detail,
      clients,
      ackDelayMs: plan.ackDelayMs,
      connectWithinMs: plan.connectWithinMs,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      workers: options.workers,
      corpusPath: DEFAULT_CORPUS_PATH,
    });
    // For a scenario without publishing, the connections are held first, so
    // the RSS sample includes whatever the server allocates after connecting.
    if (plan.publish.kind === 'none') await new Promise((resolve) => setTimeout(resolve, plan.holdSeconds * 1000));
    const withConnections = await sampler.sample();
    logger.info(
      { open: generator.open, failed: generator.failed, connectPhaseMs: generator.connectPhaseMs },
      'clients connected',
    );

    // Publish phase, then the wait for the last events.
    const cpuStart = await sampler.sample();
    let publishedIndices: number[] = [];
    let publishDurationMs = 0;
    let publishStartedAtMs = Date.now();
    if (plan.publish.kind === 'rate') {
      const count = Math.max(1, Math.round(plan.publish.ratePerSecond * plan.publish.durationSeconds));
      const startIndex = plan.publish.start.kind === 'first' ? 0 : windowAround(corpus, plan.publish.start.time, count);
      const report = await publishAtRate(nc, corpus, { startIndex, count, ratePerSecond: plan.publish.ratePerSecond });
      publishedIndices = report.publishedIndices;
      publishDurationMs = report.durationMs;
      publishStartedAtMs = report.startedAtMs;
      logger.info({ published: publishedIndices.length, durationMs: publishDurationMs }, 'publishing finished');
    }

    generator.published(publishedIndices, plan.resumeSlow);
    const drain = await generator.waitForDelivery(DRAIN_QUIET_MS, plan.drainMaxMs);
    const cpuEnd = await sampler.sample();
    logger.info({ complete: drain.complete, waitedMs: drain.waitedMs }, 'delivery finished');

    const { open, failed, connectPhaseMs } = generator;
    const totals = await generator.finish();
    generator = undefined;

    // The server is stopped here rather than in `finally`, so that the result
    // records whether it exited on SIGTERM, which --cpu-prof needs to write
    // its profile.
    sampler.stop();
    clearInterval(heapTimer);
    const stopOutcome = await server.stop();
    const exitCode = server.exitCode;
    server = undefined;
    if (stopOutcome === 'killed') {
      logger.warn({ pid: serverPid }, 'server killed after the stop deadline; a --cpu-prof profile is missing');
    } else {
      logger.info({ pid: serverPid, exitCode }, 'server stopped');
    }

    return buildRunResult({
      scenario: options.scenario.name,
      description: options.scenario.description,
      variant: options.variant,
      server: options.server,
      startedAtMs,
      plan,
      seed: options.seed,
      workers: options.workers,
      serverProcess: { pid: serverPid, nodeArgs: [...options.serverNodeArgs], stop: stopOutcome, exitCode },
      open,
      failed,
      connectPhaseMs,
      published: publishedIndices.length,
      publishDurationMs,
      complete: drain.complete,
      drainWaitMs: drain.waitedMs,
      windowMs: Math.max(0, drain.lastProgressAtMs - publishStartedAtMs),
      cpuStart,
      cpuEnd,
      baseline,
      withConnections,
      samples: sampler.samples,
      heapSamples,
      totals,
    });
  } finally {
    if (heapTimer !== undefined) clearInterval(heapTimer);
    sampler?.stop();
    generator?.kill();
    await nc?.close();
    await server?.stop();
    await nats.dispose();
  }
}

/**
 * Assigns each client its channels and whether it is slow. Slow clients are
 * spread evenly (every 1/slowShare-th client), so each worker gets its share.
 */
function planClients(plan: ScenarioPlan, corpus: readonly CorpusKill[], seed: number): ClientPlan[] {
  const channelSets =
    plan.channelMix === 'filtered'
      ? drawFilteredChannelSets(corpus, plan.connections, seededRandom(seed))
      : Array.from({ length: plan.connections }, () => ['all:*']);

  const slowEvery = plan.slowShare > 0 ? 1 / plan.slowShare : Number.POSITIVE_INFINITY;
  return channelSets.map((channels, index) => ({
    channels,
    slow: Number.isFinite(slowEvery) && Math.floor((index + 1) / slowEvery) > Math.floor(index / slowEvery),
  }));
}

/**
 * Checks the whole path from NATS through the server to a client before
 * measuring: a probe on all:* waits for a published kill, and for every
 * repeat of it, so no warm-up event reaches the measured clients.
 */
async function warmUp(server: ServerUnderTest, nc: NatsConnection, corpus: readonly CorpusKill[], detail: FeedDetail): Promise<void> {
  const kill = corpus[0];
  if (kill === undefined) throw new Error('the corpus is empty');

  const probe = new FeedClient({
    transport: server.transport,
    url: server.feedUrl,
    channels: ['all:*'],
    detail,
    ackDelayMs: 0,
    connectTimeoutMs: WARM_UP_TIMEOUT_MS,
    dedupe: false,
    recorder: {
      freshnessMs: new Histogram(),
      batchEvents: new Histogram(),
      connectMs: new Histogram(),
      recordError: () => undefined,
    },
  });

  try {
    await probe.connect();
    const deadline = Date.now() + WARM_UP_TIMEOUT_MS;
    let published = 0;

    // The server may subscribe to NATS after it starts listening, so the
    // probe kill is repeated until one arrives.
    while (probe.counters.delivered === 0) {
      if (Date.now() > deadline) throw new Error(`no event reached the probe within ${WARM_UP_TIMEOUT_MS} ms`);
      publishKill(nc, kill, WARM_UP_ID_BASE + published);
      published += 1;
      await nc.flush();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    while (probe.counters.delivered + probe.counters.dropped < published) {
      if (Date.now() > deadline) throw new Error(`the probe got ${probe.counters.delivered} of ${published} warm-up events`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    probe.close();
  }
}
