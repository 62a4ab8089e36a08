/**
 * Publishes corpus kills to NATS at a fixed rate, for load tests whose
 * clients run elsewhere (the k6 scripts):
 *
 *   npx tsx bench/publish.ts --nats-url nats://127.0.0.1:4222 --rate 50 --duration 120
 *   npx tsx bench/publish.ts --nats-url nats://127.0.0.1:4222 --burst 1000 --delay 40
 *
 * `--burst N` publishes N kills within one second, centred on the corpus's
 * busiest minute (01:44 UTC). Each message carries the Killfeed-Published-At
 * header, from which clients measure freshness.
 */
import { connect } from '@nats-io/transport-node';
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';

import { DEFAULT_CORPUS_PATH, loadCorpus, windowAround } from './lib/corpus.js';
import { publishAtRate } from './lib/publisher.js';

const BURST_CENTRE = '2021-11-28T01:44';

function positiveNumber(raw: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(`invalid value ${raw}: expected a positive number`);
  return value;
}

function nonNegativeNumber(raw: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new InvalidArgumentError(`invalid value ${raw}: expected a number >= 0`);
  return value;
}

async function main(): Promise<void> {
  const options = new Command()
    .name('bench-publish')
    .description('Publish corpus kills to NATS kills.<region>.<system> at a fixed rate or as a burst')
    .requiredOption('--nats-url <url>', 'NATS server URL, such as nats://127.0.0.1:4222')
    .option('--rate <kills>', 'kills per second', positiveNumber, 50)
    .option('--duration <seconds>', 'publish duration in seconds', positiveNumber, 60)
    .option('--burst <kills>', 'publish this many kills within 1 s instead of --rate and --duration', positiveNumber)
    .option('--delay <seconds>', 'wait before publishing, in seconds, for clients to connect', nonNegativeNumber, 0)
    .option('--corpus <path>', 'killmail corpus, JSON Lines, gzip-compressed or plain', DEFAULT_CORPUS_PATH)
    .parse()
    .opts<{ natsUrl: string; rate: number; duration: number; burst?: number; delay: number; corpus: string }>();

  const logger = pino({ base: { service: 'killfeed-bench-publish' } });
  const corpus = loadCorpus(options.corpus);
  const count = options.burst ?? Math.round(options.rate * options.duration);
  const ratePerSecond = options.burst ?? options.rate;
  const startIndex = options.burst === undefined ? 0 : windowAround(corpus, BURST_CENTRE, count);

  const nc = await connect({ servers: options.natsUrl, name: 'killfeed-bench-publish' });
  try {
    if (options.delay > 0) {
      logger.info({ delaySeconds: options.delay }, 'waiting before publishing');
      await new Promise((resolve) => setTimeout(resolve, options.delay * 1000));
    }

    logger.info({ count, ratePerSecond, startIndex }, 'publishing started');
    const report = await publishAtRate(nc, corpus, { startIndex, count, ratePerSecond });
    logger.info({ published: report.publishedIndices.length, durationMs: report.durationMs }, 'publishing finished');
  } finally {
    await nc.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
