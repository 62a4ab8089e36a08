import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';

const SAMPLING_RESOLUTION_MS = 10;

export interface EventLoopMonitorOptions {
  metrics: Metrics;
  logger: Logger;
  /** p99 event-loop delay that turns load shedding on, in ms. */
  thresholdMs: number;
  /** Minimum flush interval applied to every connection while shedding, in ms. */
  sheddingIntervalMs: number;
  /** Receives the new floor: sheddingIntervalMs while shedding, 0 otherwise. */
  setIntervalFloor: (ms: number) => void;
  windowMs?: number;
}

/**
 * Samples event-loop delay once per window. While its p99 is above the
 * threshold, the gateway sheds load by raising every connection's minimum
 * flush interval, so it sends fewer and larger batches. Shedding ends once
 * the p99 falls below half the threshold. Each transition is logged once.
 */
export class EventLoopMonitor {
  private readonly histogram: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private shedding = false;

  constructor(private readonly options: EventLoopMonitorOptions) {
    this.histogram = monitorEventLoopDelay({ resolution: SAMPLING_RESOLUTION_MS });
    this.histogram.enable();
    this.timer = setInterval(() => this.sample(), options.windowMs ?? 1000);
    this.timer.unref();
    options.metrics.loadShedding.set(0);
    options.metrics.flushIntervalFloor.set(0);
  }

  get isShedding(): boolean {
    return this.shedding;
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }

  private sample(): void {
    const { metrics, logger, thresholdMs, sheddingIntervalMs, setIntervalFloor } = this.options;
    // The histogram records whole timer periods; the lag is what exceeds the period.
    const p99Ms = Math.max(0, this.histogram.percentile(99) / 1e6 - SAMPLING_RESOLUTION_MS);
    this.histogram.reset();
    metrics.eventLoopLag.set(p99Ms / 1000);

    if (!this.shedding && p99Ms > thresholdMs) {
      this.shedding = true;
      setIntervalFloor(sheddingIntervalMs);
      metrics.loadShedding.set(1);
      metrics.flushIntervalFloor.set(sheddingIntervalMs / 1000);
      logger.warn({ eventLoopLagMs: Math.round(p99Ms), thresholdMs, minIntervalMs: sheddingIntervalMs }, 'load shedding started');
      return;
    }

    if (this.shedding && p99Ms < thresholdMs / 2) {
      this.shedding = false;
      setIntervalFloor(0);
      metrics.loadShedding.set(0);
      metrics.flushIntervalFloor.set(0);
      logger.info({ eventLoopLagMs: Math.round(p99Ms), thresholdMs }, 'load shedding stopped');
    }
  }
}
