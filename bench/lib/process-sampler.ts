import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** CPU time and memory of one process at one moment, read from /proc (Linux only). */
export interface ProcessSample {
  /** Time of the sample in ms since the epoch. */
  atMs: number;
  /** User plus system CPU time since the process started, in seconds. */
  cpuSeconds: number;
  /** Resident set size in bytes (VmRSS). */
  rssBytes: number;
}

let clockTicksPerSecond: number | undefined;

/** Returns the kernel's clock ticks per second, the unit of utime and stime in /proc/PID/stat. */
function clockTicks(): number {
  if (clockTicksPerSecond !== undefined) return clockTicksPerSecond;

  const output = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim();
  const ticks = Number(output);
  clockTicksPerSecond = Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  return clockTicksPerSecond;
}

/**
 * Reads utime + stime from /proc/PID/stat and VmRSS from /proc/PID/status.
 * Throws when the process does not exist.
 */
export async function sampleProcess(pid: number): Promise<ProcessSample> {
  const [stat, status] = await Promise.all([
    readFile(`/proc/${pid}/stat`, 'utf8'),
    readFile(`/proc/${pid}/status`, 'utf8'),
  ]);
  const atMs = Date.now();

  // The command name (field 2) is in parentheses and may contain spaces, so
  // the fields are counted from the last closing parenthesis: utime and
  // stime are fields 14 and 15 of the line.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`failed to parse utime and stime from /proc/${pid}/stat`);
  }

  const rssMatch = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (rssMatch === null) throw new Error(`failed to find VmRSS in /proc/${pid}/status`);

  return {
    atMs,
    cpuSeconds: (utime + stime) / clockTicks(),
    rssBytes: Number(rssMatch[1]) * 1024,
  };
}

/**
 * Samples a process at a fixed interval and keeps every sample, for the
 * peak RSS and the CPU time between two moments of a run.
 */
export class ProcessSampler {
  readonly samples: ProcessSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(
    readonly pid: number,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    if (this.timer !== undefined) return;

    this.timer = setInterval(() => {
      void this.sample().catch(() => {
        this.failures += 1;
      });
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === undefined) return;

    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Takes one sample now, keeps it and returns it. */
  async sample(): Promise<ProcessSample> {
    const sample = await sampleProcess(this.pid);
    this.samples.push(sample);
    return sample;
  }

  /** Samples that failed, for example because the process had exited. */
  get failedSamples(): number {
    return this.failures;
  }

  peakRssBytes(): number {
    return this.samples.reduce((peak, sample) => Math.max(peak, sample.rssBytes), 0);
  }
}
