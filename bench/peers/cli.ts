/**
 * Runs one comparison server as its own process, so bench/run.ts can sample
 * its CPU time and RSS:
 *
 *   node --import tsx bench/peers/cli.ts ws --port 8081 --nats-url nats://127.0.0.1:4222 --detail summary
 *
 * Kinds: ws, socketio, uws-per-event, uws-batched. Stops on SIGTERM or
 * SIGINT and exits with code 0, so Node's --cpu-prof can write its profile.
 */
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';

import type { Detail } from '../../src/feed-event.js';
import { Universe } from '../../src/universe.js';
import { PEER_DETAILS } from './peer-protocol.js';
import { PEER_KINDS, startPeer, type PeerKind } from './start-peer.js';

function parsePort(raw: string): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`invalid port ${raw}: expected an integer from 0 to 65535`);
  }
  return port;
}

function parseKind(raw: string): PeerKind {
  if (!(PEER_KINDS as readonly string[]).includes(raw)) {
    throw new InvalidArgumentError(`unknown server kind ${raw}: expected one of ${PEER_KINDS.join(', ')}`);
  }
  return raw as PeerKind;
}

function parseDetail(raw: string): Detail {
  if (!(PEER_DETAILS as readonly string[]).includes(raw)) {
    throw new InvalidArgumentError(`invalid detail ${raw}: expected one of ${PEER_DETAILS.join(', ')}`);
  }
  return raw as Detail;
}

async function main(): Promise<void> {
  const program = new Command()
    .name('bench-peer')
    .description('Run a comparison server that speaks the v1 feed subset, fed by NATS kills.>')
    .argument('<kind>', `server kind: ${PEER_KINDS.join(', ')}`, parseKind)
    .requiredOption('--nats-url <url>', 'NATS server URL, such as nats://127.0.0.1:4222')
    .option('--port <port>', 'TCP port to listen on, 0 for a free one', parsePort, 0)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option(
      '--detail <level>',
      `event detail level sent to every client: ${PEER_DETAILS.join(' or ')}; clients must request the same level in the URL`,
      parseDetail,
      'full',
    )
    .option('--log-level <level>', 'pino log level', 'info')
    .parse();

  const kind = program.processedArgs[0] as PeerKind;
  const opts = program.opts<{ natsUrl: string; port: number; host: string; detail: Detail; logLevel: string }>();
  const logger = pino({ level: opts.logLevel, base: { service: 'killfeed-bench-peer' } });

  const peer = await startPeer(kind, {
    port: opts.port,
    host: opts.host,
    natsUrl: opts.natsUrl,
    universe: Universe.load(),
    detail: opts.detail,
    logger,
  });

  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'peer stopping');
    peer.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'peer shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
