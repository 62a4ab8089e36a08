import { pino, type Logger, type LevelWithSilent } from 'pino';

/** Creates the process logger: JSON lines on stdout, errors under `err`. */
export function createLogger(level: LevelWithSilent = 'info', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'killfeed' },
    redact: { paths: ['config.natsToken', 'natsToken', '*.password', 'password'], censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * Logs one event at most once per window and counts what it held back, so a
 * flood of bad input produces one line per window with `suppressed: N`.
 */
export class RateLimitedLog {
  private readonly lastLoggedAt = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();

  constructor(
    private readonly logger: Logger,
    private readonly windowMs = 10_000,
  ) {}

  warn(key: string, fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    const last = this.lastLoggedAt.get(key);
    if (last !== undefined && now - last < this.windowMs) {
      this.suppressed.set(key, (this.suppressed.get(key) ?? 0) + 1);
      return;
    }

    const suppressed = this.suppressed.get(key) ?? 0;
    this.suppressed.delete(key);
    this.lastLoggedAt.set(key, now);
    this.logger.warn(suppressed > 0 ? { ...fields, suppressed } : fields, message);
  }
}
