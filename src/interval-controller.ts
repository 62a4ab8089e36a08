/**
 * Picks a connection's flush interval from its ACK latency. The connection
 * aims to have every event acknowledged within the freshness budget, so the
 * time left after the ACK round trip is what it may spend waiting to batch:
 *
 *     interval = clamp(budget − smoothed ACK latency, min, max)
 *
 * Rising latency lowers the interval; falling latency lets it recover.
 * Latency is smoothed with an exponentially weighted moving average.
 */
export interface IntervalSettings {
  budgetMs: number;
  minMs: number;
  maxMs: number;
  startMs: number;
}

/** Weight of the newest ACK latency sample in the moving average. */
const SMOOTHING = 0.25;

export class IntervalController {
  private smoothedLatencyMs: number | undefined;
  private currentMs: number;

  constructor(
    private readonly settings: IntervalSettings,
    /** Shared floor raised during load shedding; read on every recompute. */
    private readonly floor: { ms: number },
  ) {
    this.currentMs = settings.startMs;
  }

  /** Interval in effect, in ms, never below the shared floor. */
  get intervalMs(): number {
    return Math.max(this.currentMs, this.floor.ms);
  }

  get latencyMs(): number | undefined {
    return this.smoothedLatencyMs;
  }

  /** Feeds one ACK latency sample, in ms, and recomputes the interval. */
  observe(latencyMs: number): void {
    if (!Number.isFinite(latencyMs) || latencyMs < 0) return;

    this.smoothedLatencyMs = this.smoothedLatencyMs === undefined ? latencyMs : this.smoothedLatencyMs + SMOOTHING * (latencyMs - this.smoothedLatencyMs);

    const { budgetMs, minMs, maxMs } = this.settings;
    this.currentMs = Math.min(maxMs, Math.max(minMs, budgetMs - this.smoothedLatencyMs));
  }
}
