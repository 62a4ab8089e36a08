#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander';
import { connect } from '@nats-io/transport-node';
import { access } from 'node:fs/promises';
import { ConfigError, loadConfig, OPTIONS, redactUrlCredentials, type ConfigKey } from './config.js';
import { Gateway } from './gateway.js';
import { createLogger } from './logger.js';
import { replayCorpus } from './replay.js';
import { tail } from './tail.js';
import { Universe } from './universe.js';

const program = new Command();
// Usage errors (unknown option, missing argument) exit 2, like invalid configuration.
program.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
program.name('killfeed').description('Live EVE Online kill feed: NATS in, batched ACK-paced WebSocket out.');

const serve = program.command('serve').description('Run the gateway. Every option can also be set by the environment variable shown.');
for (const [key, spec] of Object.entries(OPTIONS)) {
  const isFlag = spec.schema.safeParse(true).success && typeof spec.default === 'boolean';
  const option = new Option(isFlag ? `--${spec.flag}` : `--${spec.flag} <value>`, `${spec.description} [env ${spec.env}, default ${JSON.stringify(spec.default)}]`);
  option.attributeName = () => key;
  serve.addOption(option);
}
serve.action(async (flags: Partial<Record<ConfigKey, unknown>>) => {
  let config;
  try {
    config = loadConfig(flags);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`killfeed: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  const logger = createLogger(config.logLevel);
  const gateway = new Gateway({ config, logger });

  const stop = (signal: string) => {
    // The shutdown sequence has its own deadline; this one catches a step that hangs outside it.
    setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown exceeded its deadline; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 2000).unref();
    gateway.shutdown(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  try {
    await gateway.start();
  } catch (err) {
    logger.fatal({ err }, 'gateway failed to start');
    process.exit(1);
  }
});

program
  .command('replay')
  .description('Publish a killmail corpus (JSON Lines, plain or .gz) to NATS as kills.<region>.<system>.')
  .argument('<file>', 'corpus file')
  .option('--nats-url <url>', 'NATS server URL [env NATS_URL]', process.env.NATS_URL ?? 'nats://127.0.0.1:4222')
  .option('--speed <factor>', "keep the corpus's own timing, sped up by this factor", positiveNumber)
  .option('--rate <kills-per-second>', 'publish at a fixed rate instead (10 when neither --speed nor --rate is given)', positiveNumber)
  .option('--limit <count>', 'stop after this many kills', positiveInteger)
  .option('--loop', 'start over at the end of the file')
  .option('--format <format>', 'payload encoding: json or msgpack', 'json')
  .option('--subject-prefix <prefix>', 'subject prefix', 'kills')
  .action(async (file: string, opts: { natsUrl: string; speed?: number; rate?: number; limit?: number; loop?: boolean; format: string; subjectPrefix: string }) => {
    if (opts.speed !== undefined && opts.rate !== undefined) fail('use either --speed or --rate, not both');
    if (opts.format !== 'json' && opts.format !== 'msgpack') fail(`--format ${JSON.stringify(opts.format)} is invalid; allowed: json, msgpack`);

    const logger = createLogger((process.env.KILLFEED_LOG_LEVEL as 'info' | undefined) ?? 'info');
    try {
      await access(file);
    } catch {
      fail(`cannot read ${JSON.stringify(file)}: file not found or not readable`);
    }
    let nc;
    try {
      nc = await connect({ servers: opts.natsUrl.split(','), name: 'killfeed-replay' });
    } catch (err) {
      logger.error({ err, natsUrl: redactUrlCredentials(opts.natsUrl) }, 'nats connect failed');
      fail(`cannot connect to NATS at ${redactUrlCredentials(opts.natsUrl)}: ${(err as Error).message}`, 1);
    }
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    process.once('SIGTERM', () => abort.abort());

    await replayCorpus({
      nc,
      file,
      universe: Universe.load(),
      subjectPrefix: opts.subjectPrefix,
      speed: opts.speed,
      rate: opts.rate ?? (opts.speed === undefined ? 10 : undefined),
      limit: opts.limit,
      loop: opts.loop ?? false,
      format: opts.format,
      signal: abort.signal,
      logger,
    });
    await nc.drain();
  });

program
  .command('tail')
  .description('Connect to a gateway as a client and print one line per kill.')
  .option('--url <url>', 'feed URL [env KILLFEED_URL]', process.env.KILLFEED_URL ?? 'ws://127.0.0.1:8080/v1/feed')
  .option('--channels <list>', 'comma-separated channels, e.g. all:*,region:10000002', 'all:*')
  .option('--format <format>', 'json or msgpack', 'json')
  .option('--ack-delay-ms <ms>', 'delay before each ACK, to act as a slow client', nonNegativeInteger, 0)
  .option('--limit <count>', 'exit after this many kills', positiveInteger)
  .action(async (opts: { url: string; channels: string; format: string; ackDelayMs: number; limit?: number }) => {
    if (opts.format !== 'json' && opts.format !== 'msgpack') fail(`--format ${JSON.stringify(opts.format)} is invalid; allowed: json, msgpack`);

    const logger = createLogger('info', process.stderr as unknown as Parameters<typeof createLogger>[1]);
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    process.once('SIGTERM', () => abort.abort());

    let result;
    try {
      result = await tail({
        url: opts.url,
        channels: opts.channels.split(',').map((c) => c.trim()).filter((c) => c !== ''),
        format: opts.format,
        ackDelayMs: opts.ackDelayMs,
        limit: opts.limit,
        universe: Universe.load(),
        logger,
        signal: abort.signal,
      });
    } catch (err) {
      logger.error({ err, url: opts.url }, 'tail failed');
      fail(`cannot follow ${opts.url}: ${(err as Error).message}`, 1);
    }
    logger.info(result, 'tail finished');
    if (result.noValidChannels) fail(`the gateway accepted none of the channels ${JSON.stringify(opts.channels)}; see its error above`);
  });

function positiveNumber(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new InvalidArgumentError(`expected a positive number, got ${JSON.stringify(value)}`);
  return number;
}

function positiveInteger(value: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number <= 0) throw new InvalidArgumentError(`expected a positive integer, got ${JSON.stringify(value)}`);
  return number;
}

function nonNegativeInteger(value: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 0) throw new InvalidArgumentError(`expected a non-negative integer, got ${JSON.stringify(value)}`);
  return number;
}

function fail(message: string, exitCode = 2): never {
  process.stderr.write(`killfeed: ${message}\n`);
  process.exit(exitCode);
}

await program.parseAsync();
