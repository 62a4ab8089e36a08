import type { Logger } from 'pino';
import { parseChannel } from './channels.js';
import { redactConfig, type Config } from './config.js';
import { EventHistory } from './event-history.js';
import { EventLoopMonitor } from './event-loop-monitor.js';
import { FeedHub } from './feed-hub.js';
import { GatewayServer, type Readiness } from './gateway-server.js';
import { History } from './history.js';
import { HistoryApi } from './history-api.js';
import { Ingest } from './ingest.js';
import { KillStream } from './kill-stream.js';
import { Metrics } from './metrics.js';
import { NatsClient } from './nats-client.js';
import { Universe } from './universe.js';
import { detectUwsBuild } from './uws.js';

export interface GatewayOptions {
  config: Config;
  logger: Logger;
  universe?: Universe;
}

/**
 * The running service: wires the universe map, metrics, feed hub, uWS
 * server, event-loop monitor, NATS connection and ingest together, and owns
 * the one shutdown sequence.
 */
export class Gateway {
  readonly metrics = new Metrics();
  readonly hub: FeedHub;
  readonly server: GatewayServer;
  readonly universe: Universe;
  readonly memory: EventHistory;
  /** 'jetstream' or 'core' once connected; undefined before. */
  mode: 'jetstream' | 'core' | undefined;
  private readonly config: Config;
  private readonly logger: Logger;
  private nats: NatsClient | undefined;
  private readonly ingest: Ingest;
  private monitor: EventLoopMonitor | undefined;
  private shutdownPromise: Promise<void> | undefined;
  private stopping = false;

  constructor(options: GatewayOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.universe = options.universe ?? Universe.load();

    this.memory = new EventHistory(this.config.historyEvents);
    const channelParser = (raw: string) => parseChannel(raw, this.universe);

    this.hub = new FeedHub({
      config: this.config,
      metrics: this.metrics,
      logger: this.logger,
      parseChannel: channelParser,
      history: this.createHistory(undefined),
    });
    this.server = new GatewayServer({
      config: this.config,
      hub: this.hub,
      metrics: this.metrics,
      logger: this.logger,
      natsReadiness: () => this.natsReadiness(),
      historyApi: new HistoryApi(() => this.hub.history, () => this.hub.latestId, channelParser),
    });
    this.ingest = new Ingest({
      hub: this.hub,
      history: this.memory,
      universe: this.universe,
      metrics: this.metrics,
      logger: this.logger,
      maxEventBytes: this.config.maxEventBytes,
      dedupeWindowMs: this.config.dedupeWindowS * 1000,
    });
  }

  /**
   * Checks the uWS build, listens, then connects to NATS. The port listens
   * before NATS is reached so /readyz can report why the gateway is not ready.
   */
  async start(): Promise<number> {
    const build = detectUwsBuild();
    if (!build.native && !this.config.allowUwsFallback) {
      throw new Error(`uWebSockets.js ${build.packageVersion} loaded its slow pure-JS fallback, not a native binary for Node ABI ${process.versions.modules} on ${process.platform}-${process.arch}; set KILLFEED_ALLOW_UWS_FALLBACK=true to run anyway`);
    }
    this.logger.info({ config: redactConfig(this.config), uws: build }, 'gateway starting');
    if (!build.native) this.logger.warn({ uws: build }, 'running on the uWebSockets.js fallback; throughput will be far lower');

    const port = await this.server.listen();
    this.logger.info({ host: this.config.host, port }, 'listening');

    this.monitor = new EventLoopMonitor({
      metrics: this.metrics,
      logger: this.logger,
      thresholdMs: this.config.lagThresholdMs,
      sheddingIntervalMs: this.config.sheddingIntervalMs,
      setIntervalFloor: (ms) => this.hub.setIntervalFloor(ms),
    });

    const nats = await NatsClient.connect(this.config, this.logger, this.metrics);
    if (this.stopping) {
      await nats.drain();
      return port;
    }
    this.nats = nats;

    if (await this.useJetStream(nats)) {
      const stream = await KillStream.open(nats.nc, this.config, this.logger);
      this.hub.history = this.createHistory(stream);
      this.mode = 'jetstream';
      await this.ingest.startJetStream(stream);
    } else {
      this.mode = 'core';
      this.ingest.startCore(nats.nc, this.config.natsSubject);
      // Round-trip to the server so the subscription is registered before start() resolves.
      await nats.nc.flush();
    }
    return port;
  }

  private async useJetStream(nats: NatsClient): Promise<boolean> {
    if (this.config.natsMode === 'core') return false;

    const available = await KillStream.available(nats.nc);
    if (this.config.natsMode === 'jetstream' && !available) {
      throw new Error('KILLFEED_NATS_MODE=jetstream, but the NATS server does not offer JetStream; start nats-server with -js or set KILLFEED_NATS_MODE=core');
    }
    if (!available) this.logger.info({}, 'nats server has no JetStream; using core NATS with per-gateway event ids');
    return available;
  }

  private createHistory(stream: KillStream | undefined): History {
    return new History({ memory: this.memory, stream, universe: this.universe, maxEventBytes: this.config.maxEventBytes, scanLimit: this.config.historyScanLimit });
  }

  readiness(): Readiness {
    return this.server.readiness();
  }

  /**
   * Stops in order: readiness false and no new connections, a final flush,
   * every socket closed with 1001, NATS drained. Resolves within the
   * shutdown timeout even if NATS does not drain; safe to call twice.
   */
  shutdown(signal = 'shutdown'): Promise<void> {
    this.shutdownPromise ??= this.runShutdown(signal);
    return this.shutdownPromise;
  }

  private async runShutdown(signal: string): Promise<void> {
    this.stopping = true;
    const startedAt = Date.now();
    this.logger.info({ signal, connections: this.hub.connectionCount }, 'shutdown started');

    this.server.stopListening();
    await this.ingest.stop().catch((err: unknown) => this.logger.warn({ err }, 'ingest did not stop cleanly'));
    this.server.closeAll();
    this.hub.stop();
    this.monitor?.stop();

    const drained = this.nats ? this.nats.drain().then(() => true) : Promise.resolve(true);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.config.shutdownTimeoutMs);
    });
    const completed = await Promise.race([drained.catch(() => false), deadline]);
    clearTimeout(timer);

    if (!completed) this.logger.warn({ timeoutMs: this.config.shutdownTimeoutMs }, 'nats drain did not finish before the shutdown deadline');
    this.logger.info({ durationMs: Date.now() - startedAt }, 'shutdown complete');
  }

  private natsReadiness(): Readiness {
    if (!this.nats) return { ready: false, reason: 'connecting to NATS' };
    return this.nats.readiness();
  }
}
