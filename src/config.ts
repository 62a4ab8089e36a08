import { z } from 'zod';

/**
 * Gateway configuration: one table of options, each read from a CLI flag,
 * else an environment variable, else its default. Validated once at start;
 * the frozen result is what every module reads.
 */

/**
 * Builds the schema of an integer option within [min, max], given as a
 * number or a decimal string. Every failure, an empty string included,
 * reports the allowed range.
 */
function intRange(min: number, max = Number.MAX_SAFE_INTEGER) {
  const allowed = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`;
  return z
    .union([z.number(), z.string().regex(/^\s*-?\d+\s*$/, { error: `expected ${allowed}` })], { error: `expected ${allowed}` })
    .transform(Number)
    .pipe(z.number().int({ error: `expected ${allowed}` }).min(min, { error: `expected ${allowed}` }).max(max, { error: `expected ${allowed}` }));
}

const port = intRange(0, 65_535);
const positiveInt = intRange(1);
const nonNegativeInt = intRange(0);
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])], { error: 'expected true, false, 1, 0, yes or no' }).transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');

function isNatsUrlList(value: string): boolean {
  return value.split(',').every((part) => {
    try {
      const url = new URL(part.trim());
      return ['nats:', 'tls:', 'ws:', 'wss:'].includes(url.protocol) && url.hostname !== '';
    } catch {
      return false;
    }
  });
}

interface OptionSpec<T extends z.ZodType> {
  env: string;
  flag: string;
  schema: T;
  default: z.input<T>;
  description: string;
  secret?: boolean;
}

function option<T extends z.ZodType>(spec: OptionSpec<T>): OptionSpec<T> {
  return spec;
}

export const OPTIONS = {
  host: option({ env: 'KILLFEED_HOST', flag: 'host', schema: z.string().min(1), default: '0.0.0.0', description: 'address to listen on' }),
  port: option({ env: 'KILLFEED_PORT', flag: 'port', schema: port, default: 8080, description: 'TCP port for WebSocket and HTTP (0 picks a free port)' }),
  natsUrl: option({ env: 'NATS_URL', flag: 'nats-url', schema: z.string().refine(isNatsUrlList, 'expected nats://HOST:PORT (or tls://, ws://, wss://), comma-separated for several servers'), default: 'nats://127.0.0.1:4222', description: 'NATS server URL(s), comma-separated', secret: true }),
  natsToken: option({ env: 'NATS_TOKEN', flag: 'nats-token', schema: z.string(), default: '', description: 'NATS authentication token', secret: true }),
  natsSubject: option({ env: 'KILLFEED_NATS_SUBJECT', flag: 'nats-subject', schema: z.string().regex(/^[^\s]+$/, 'a NATS subject without spaces'), default: 'kills.>', description: 'subject the gateway subscribes to' }),
  natsMode: option({ env: 'KILLFEED_NATS_MODE', flag: 'nats-mode', schema: z.enum(['auto', 'jetstream', 'core'], { error: 'expected auto, jetstream or core' }), default: 'auto', description: 'auto uses JetStream when the server has it, else core NATS' }),
  streamName: option({ env: 'KILLFEED_STREAM', flag: 'stream', schema: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and -'), default: 'KILLS', description: 'JetStream stream holding kill events' }),
  streamCreate: option({ env: 'KILLFEED_STREAM_CREATE', flag: 'stream-create', schema: bool, default: false, description: 'create the stream (subjects = --nats-subject) when it does not exist' }),
  streamMaxAgeS: option({ env: 'KILLFEED_STREAM_MAX_AGE_S', flag: 'stream-max-age-s', schema: positiveInt, default: 7 * 24 * 3600, description: 'retention of a created stream, in s' }),
  streamMaxBytes: option({ env: 'KILLFEED_STREAM_MAX_BYTES', flag: 'stream-max-bytes', schema: positiveInt, default: 1024 * 1024 * 1024, description: 'size limit of a created stream, in bytes' }),
  streamDuplicateWindowS: option({ env: 'KILLFEED_STREAM_DUPLICATE_WINDOW_S', flag: 'stream-duplicate-window-s', schema: positiveInt, default: 600, description: 'Nats-Msg-Id deduplication window of a created stream, in s' }),
  dedupeWindowS: option({ env: 'KILLFEED_DEDUPE_WINDOW_S', flag: 'dedupe-window-s', schema: nonNegativeInt, default: 600, description: 'a killmail_id seen again within this time is skipped as a duplicate, in s (0 disables)' }),
  historyEvents: option({ env: 'KILLFEED_HISTORY_EVENTS', flag: 'history-events', schema: positiveInt, default: 10_000, description: 'newest events kept in memory for resume and pagination' }),
  historyScanLimit: option({ env: 'KILLFEED_HISTORY_SCAN_LIMIT', flag: 'history-scan-limit', schema: positiveInt, default: 2_000, description: 'stream messages one history request or resume may read' }),
  maxEventBytes: option({ env: 'KILLFEED_MAX_EVENT_BYTES', flag: 'max-event-bytes', schema: positiveInt, default: 1_048_576, description: 'largest accepted NATS message, in bytes' }),
  ringCapacity: option({ env: 'KILLFEED_RING_CAPACITY', flag: 'ring-capacity', schema: intRange(1, 10_000), default: 100, description: 'newest matching events kept per connection' }),
  freshnessBudgetMs: option({ env: 'KILLFEED_FRESHNESS_BUDGET_MS', flag: 'freshness-budget-ms', schema: positiveInt, default: 250, description: 'target time from event arrival to client ACK, in ms' }),
  intervalMinMs: option({ env: 'KILLFEED_INTERVAL_MIN_MS', flag: 'interval-min-ms', schema: positiveInt, default: 20, description: 'minimum flush interval, in ms' }),
  intervalMaxMs: option({ env: 'KILLFEED_INTERVAL_MAX_MS', flag: 'interval-max-ms', schema: positiveInt, default: 1000, description: 'maximum flush interval, in ms' }),
  intervalStartMs: option({ env: 'KILLFEED_INTERVAL_START_MS', flag: 'interval-start-ms', schema: positiveInt, default: 100, description: 'flush interval before the first ACK, in ms' }),
  maxUnackedBatches: option({ env: 'KILLFEED_MAX_UNACKED_BATCHES', flag: 'max-unacked-batches', schema: positiveInt, default: 2, description: 'batches in flight per connection before sending pauses' }),
  backpressureBytes: option({ env: 'KILLFEED_BACKPRESSURE_BYTES', flag: 'backpressure-bytes', schema: positiveInt, default: 262_144, description: 'socket buffered amount above which batches wait for drain, in bytes' }),
  slowConsumerTimeoutMs: option({ env: 'KILLFEED_SLOW_CONSUMER_TIMEOUT_MS', flag: 'slow-consumer-timeout-ms', schema: positiveInt, default: 30_000, description: 'time without ACK or drain before a stalled client is closed, in ms' }),
  heartbeatMs: option({ env: 'KILLFEED_HEARTBEAT_MS', flag: 'heartbeat-ms', schema: positiveInt, default: 15_000, description: 'quiet time after which a connection gets a heartbeat, in ms' }),
  idleTimeoutS: option({ env: 'KILLFEED_IDLE_TIMEOUT_S', flag: 'idle-timeout-s', schema: intRange(8, 960), default: 60, description: 'WebSocket idle timeout; pings are sent automatically, in s' }),
  maxChannels: option({ env: 'KILLFEED_MAX_CHANNELS', flag: 'max-channels', schema: positiveInt, default: 64, description: 'subscriptions allowed per connection' }),
  maxFrameBytes: option({ env: 'KILLFEED_MAX_FRAME_BYTES', flag: 'max-frame-bytes', schema: intRange(1, 1_048_576), default: 16_384, description: 'maximum client frame size processed; larger frames get a frame_too_large error, in bytes' }),
  maxViolations: option({ env: 'KILLFEED_MAX_VIOLATIONS', flag: 'max-violations', schema: positiveInt, default: 5, description: 'protocol errors after which a connection is closed' }),
  lagThresholdMs: option({ env: 'KILLFEED_LAG_THRESHOLD_MS', flag: 'lag-threshold-ms', schema: positiveInt, default: 100, description: 'event-loop delay (p99) that starts load shedding, in ms' }),
  sheddingIntervalMs: option({ env: 'KILLFEED_SHEDDING_INTERVAL_MS', flag: 'shedding-interval-ms', schema: positiveInt, default: 250, description: 'minimum flush interval while load shedding, in ms' }),
  shutdownTimeoutMs: option({ env: 'KILLFEED_SHUTDOWN_TIMEOUT_MS', flag: 'shutdown-timeout-ms', schema: positiveInt, default: 10_000, description: 'deadline for graceful shutdown, in ms' }),
  logLevel: option({ env: 'KILLFEED_LOG_LEVEL', flag: 'log-level', schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'expected fatal, error, warn, info, debug, trace or silent' }), default: 'info', description: 'pino log level' }),
  allowUwsFallback: option({ env: 'KILLFEED_ALLOW_UWS_FALLBACK', flag: 'allow-uws-fallback', schema: bool, default: false, description: "run on uWebSockets.js's slow pure-JS fallback when the native build fails to load" }),
} as const;

type Options = typeof OPTIONS;
export type Config = { readonly [K in keyof Options]: z.output<Options[K]['schema']> };
export type ConfigKey = keyof Options;

/** An invalid configuration value, naming the variable, the value and what is allowed. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

/**
 * Builds the configuration from CLI flag values (already parsed, keyed by
 * option name) over environment variables over defaults. Throws ConfigError
 * listing every invalid value.
 */
export function loadConfig(flags: Partial<Record<ConfigKey, unknown>> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const result: Record<string, unknown> = {};

  for (const [key, spec] of Object.entries(OPTIONS) as Array<[ConfigKey, OptionSpec<z.ZodType>]>) {
    const fromFlag = flags[key];
    const fromEnv = env[spec.env];
    let source = spec.env;
    if (fromFlag !== undefined) source = `--${spec.flag}`;
    const raw = fromFlag ?? fromEnv ?? spec.default;

    const parsed = spec.schema.safeParse(raw);
    if (!parsed.success) {
      const allowed = parsed.error.issues.map((issue) => issue.message).join('; ');
      const shown = spec.secret ? '(redacted)' : JSON.stringify(raw);
      problems.push(`${source} = ${shown} is invalid: ${allowed}`);
      continue;
    }
    result[key] = parsed.data;
  }

  const config = result as Config;
  const nameOf = (key: ConfigKey) => (flags[key] !== undefined ? `--${OPTIONS[key].flag}` : OPTIONS[key].env);
  if (problems.length === 0) checkRelations(config, problems, nameOf);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

function checkRelations(config: Config, problems: string[], nameOf: (key: ConfigKey) => string): void {
  if (config.intervalMinMs > config.intervalMaxMs) {
    problems.push(`${nameOf('intervalMinMs')} = ${config.intervalMinMs} is invalid: must not exceed ${nameOf('intervalMaxMs')} (${config.intervalMaxMs})`);
  }
  if (config.intervalStartMs < config.intervalMinMs || config.intervalStartMs > config.intervalMaxMs) {
    problems.push(`${nameOf('intervalStartMs')} = ${config.intervalStartMs} is invalid: must lie between ${nameOf('intervalMinMs')} (${config.intervalMinMs}) and ${nameOf('intervalMaxMs')} (${config.intervalMaxMs})`);
  }
}

/** Returns the configuration with secrets removed, for the start log. */
export function redactConfig(config: Config): Record<string, unknown> {
  const shown: Record<string, unknown> = { ...config };
  shown.natsUrl = redactUrlCredentials(config.natsUrl);
  shown.natsToken = config.natsToken === '' ? '' : '[redacted]';
  return shown;
}

/** Replaces user:password@ in each URL of a comma-separated list. */
export function redactUrlCredentials(urls: string): string {
  return urls.replace(/\/\/[^@/,]*@/g, '//[redacted]@');
}

/** Returns the config with defaults, for tests and tools that override a few options. */
export function defaultConfig(overrides: Partial<Record<ConfigKey, unknown>> = {}): Config {
  return loadConfig(overrides, {});
}
