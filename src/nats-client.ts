import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { redactUrlCredentials } from './config.js';
import type { Metrics } from './metrics.js';
import type { Readiness } from './gateway-server.js';

/**
 * The gateway's NATS connection: connects (retrying until the first
 * connect succeeds), reconnects forever, and turns status changes into log
 * events, metrics and the readiness state.
 */
export class NatsClient {
  private connected = false;
  private lastProblem = 'connecting to NATS';

  private constructor(
    readonly nc: NatsConnection,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  static async connect(config: Config, logger: Logger, metrics: Metrics): Promise<NatsClient> {
    const servers = config.natsUrl.split(',').map((url) => url.trim());
    const nc = await connect({
      servers,
      name: 'killfeed-gateway',
      token: config.natsToken === '' ? undefined : config.natsToken,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      waitOnFirstConnect: true,
      pingInterval: 10_000,
      maxPingOut: 2,
    });

    const client = new NatsClient(nc, logger, metrics);
    client.markConnected(nc.getServer());
    void client.watchStatus();
    return client;
  }

  readiness(): Readiness {
    return this.connected ? { ready: true } : { ready: false, reason: this.lastProblem };
  }

  /** Drains subscriptions and closes; safe to call twice. */
  async drain(): Promise<void> {
    if (this.nc.isClosed() || this.nc.isDraining()) return;
    await this.nc.drain();
  }

  private markConnected(server: string): void {
    this.connected = true;
    this.metrics.natsConnected.set(1);
    this.logger.info({ server: redactUrlCredentials(server) }, 'nats connected');
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      switch (status.type) {
        case 'disconnect':
          this.connected = false;
          this.lastProblem = 'NATS disconnected';
          this.metrics.natsConnected.set(0);
          this.logger.warn({ server: redactUrlCredentials(status.server) }, 'nats disconnected');
          break;
        case 'reconnect':
          this.metrics.natsReconnects.inc();
          this.markConnected(status.server);
          break;
        case 'error':
          this.logger.error({ err: status.error }, 'nats error');
          break;
        case 'slowConsumer':
          this.logger.warn({ subject: status.sub.getSubject(), pending: status.pending }, 'nats subscription is a slow consumer');
          break;
        case 'close':
          this.connected = false;
          this.lastProblem = 'NATS connection closed';
          this.metrics.natsConnected.set(0);
          this.logger.info({}, 'nats connection closed');
          break;
        default:
          break;
      }
    }
  }
}
