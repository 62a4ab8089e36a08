import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FeedClient } from './support/feed-client.js';
import { CORPUS_PATH } from './support/gateway.js';
import { NatsServer } from './support/nats-server.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Time allowed for one CLI process to start, finish or exit. tsx compiles on the fly, so a cold start takes a few seconds. */
const PROCESS_TIMEOUT_MS = 20_000;

/** Shutdown deadline given to `serve` in these tests. */
const SHUTDOWN_TIMEOUT_MS = 3_000;

/** Slack on top of the shutdown deadline for process teardown. */
const EXIT_SLACK_MS = 5_000;

type LogLine = Record<string, unknown> & { msg?: string };

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The real CLI as a child process (`node --import tsx src/cli.ts …`, so the
 * signal reaches the gateway's own process). Records stdout and stderr and
 * parses JSON log lines as they arrive, so a test can await one.
 */
class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();

  private constructor(args: readonly string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString();
      this.wake();
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        this.wake();
        resolve(this.exit);
      });
    });
  }

  static run(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
    const cli = new CliProcess(args, env);
    running.add(cli);
    return cli;
  }

  get output(): string {
    return this.stdout + this.stderr;
  }

  /** Returns the JSON log lines of stdout and stderr. Other lines, such as the uWS fallback notice, are skipped. */
  logs(): LogLine[] {
    const lines: LogLine[] = [];
    for (const line of this.output.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        // A line still being written; the next chunk completes it.
      }
    }
    return lines;
  }

  /** Resolves with the first log line whose msg is `msg`. Rejects when the process exits first. */
  async waitForLog(msg: string, timeoutMs = PROCESS_TIMEOUT_MS): Promise<LogLine> {
    await this.waitUntil(() => this.findLog(msg) !== undefined || this.exit !== undefined, timeoutMs, `log "${msg}"`);
    const line = this.findLog(msg);
    if (line === undefined) throw new Error(`process exited (${JSON.stringify(this.exit)}) before logging "${msg}"; output:\n${this.output.slice(-3000)}`);
    return line;
  }

  async waitForExit(timeoutMs = PROCESS_TIMEOUT_MS): Promise<Exit> {
    await this.waitUntil(() => this.exit !== undefined, timeoutMs, 'exit');
    return this.exit as Exit;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.exit === undefined) this.child.kill(signal);
  }

  /** Kills the process if it is still running; used after each test. */
  async dispose(): Promise<void> {
    if (this.exit === undefined) this.child.kill('SIGKILL');
    await this.exited;
  }

  private findLog(msg: string): LogLine | undefined {
    return this.logs().find((line) => line.msg === msg);
  }

  private async waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; output:\n${this.output.slice(-3000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiters) waiter();
  }
}

const running = new Set<CliProcess>();

afterEach(async () => {
  await Promise.all([...running].map((cli) => cli.dispose()));
  running.clear();
});

/** Starts `serve` on a free loopback port and resolves once it listens and has subscribed to NATS, which makes /readyz return 200. */
async function startServe(natsUrl: string, extraArgs: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ cli: CliProcess; port: number }> {
  const cli = CliProcess.run(['serve', '--host', '127.0.0.1', '--port', '0', '--nats-url', natsUrl, '--shutdown-timeout-ms', String(SHUTDOWN_TIMEOUT_MS), ...extraArgs], env);
  const listening = await cli.waitForLog('listening');
  await cli.waitForLog('ingest subscribed');
  return { cli, port: listening.port as number };
}

describe('serve configuration errors', () => {
  it('rejects KILLFEED_PORT=abc before listening', async () => {
    const cli = CliProcess.run(['serve', '--host', '127.0.0.1'], { KILLFEED_PORT: 'abc' });
    const exit = await cli.waitForExit();

    expect(exit.code).toBe(2);
    expect(cli.stderr).toContain('KILLFEED_PORT');
    expect(cli.stderr).toContain('"abc"');
    expect(cli.stderr).toContain('expected an integer from 0 to 65535');
    expect(cli.logs().some((line) => line.msg === 'listening')).toBe(false);
  });

  it('rejects --interval-min-ms 0 before listening', async () => {
    const cli = CliProcess.run(['serve', '--host', '127.0.0.1', '--port', '0', '--interval-min-ms', '0']);
    const exit = await cli.waitForExit();

    expect(exit.code).toBe(2);
    expect(cli.stderr).toContain('--interval-min-ms');
    expect(cli.stderr).toContain('"0"');
    expect(cli.stderr).toContain('expected an integer ≥ 1');
    expect(cli.logs().some((line) => line.msg === 'listening')).toBe(false);
  });
});

describe('client command errors', () => {
  it('names a flag-given interval in the relation check', async () => {
    const cli = CliProcess.run(['serve', '--host', '127.0.0.1', '--port', '0', '--interval-start-ms', '5000']);
    const exit = await cli.waitForExit();

    expect(exit.code).toBe(2);
    expect(cli.stderr).toContain('--interval-start-ms = 5000 is invalid');
  });

  it('exits 2 on an unknown option', async () => {
    const cli = CliProcess.run(['serve', '--prot', '1']);
    const exit = await cli.waitForExit();

    expect(exit.code).toBe(2);
    expect(cli.stderr).toContain('--prot');
  });

  it('replay reports a missing corpus file', async () => {
    const cli = CliProcess.run(['replay', 'no-such-corpus.jsonl']);
    const exit = await cli.waitForExit();

    expect(exit.code).toBe(2);
    expect(cli.stderr).toContain('cannot read "no-such-corpus.jsonl"');
    expect(cli.stderr).not.toMatch(/^\s+at /m);
  });

  it('replay reports an unreachable NATS server', async () => {
    const cli = CliProcess.run(['replay', CORPUS_PATH, '--nats-url', 'nats://127.0.0.1:1']);
    const exit = await cli.waitForExit();

    expect(exit.code).toBe(1);
    expect(cli.stderr).toContain('cannot connect to NATS at nats://127.0.0.1:1');
    expect(cli.logs().some((line) => line.msg === 'nats connect failed')).toBe(true);
  });

  it('tail reports an unreachable gateway', async () => {
    const cli = CliProcess.run(['tail', '--url', 'ws://127.0.0.1:1/v1/feed']);
    const exit = await cli.waitForExit();

    expect(exit.code).toBe(1);
    expect(cli.stderr).toContain('cannot follow ws://127.0.0.1:1/v1/feed');
    expect(cli.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('serve with a running nats-server', () => {
  let nats: NatsServer;

  beforeAll(async () => {
    nats = await NatsServer.start();
  });

  afterAll(async () => {
    await nats.dispose();
  });

  it('rejects the uWS pure-JS fallback by default', async () => {
    const cli = CliProcess.run(['serve', '--host', '127.0.0.1', '--port', '0', '--nats-url', nats.url], { UWS_USE_FALLBACK: '1' });
    const exit = await cli.waitForExit();

    expect(exit.code).toBe(1);
    const fatal = cli.logs().find((line) => line.msg === 'gateway failed to start');
    expect(fatal).toBeDefined();
    const error = fatal?.err as { message?: string } | undefined;
    expect(error?.message).toContain('pure-JS fallback');
    expect(error?.message).toContain('KILLFEED_ALLOW_UWS_FALLBACK=true');
    expect(cli.logs().some((line) => line.msg === 'listening')).toBe(false);
  });

  it('runs on the uWS fallback with --allow-uws-fallback', async () => {
    const { cli, port } = await startServe(nats.url, ['--allow-uws-fallback'], { UWS_USE_FALLBACK: '1' });

    const starting = await cli.waitForLog('gateway starting');
    expect(starting.uws).toMatchObject({ native: false, binary: 'fallback' });
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);

    cli.signal('SIGTERM');
    const exit = await cli.waitForExit(SHUTDOWN_TIMEOUT_MS + EXIT_SLACK_MS);
    expect(exit.code).toBe(0);
  });

  it('logs the effective config with NATS credentials redacted', async () => {
    const credentialsUrl = nats.url.replace('nats://', 'nats://user:secret@');
    const { cli } = await startServe(credentialsUrl, ['--nats-token', 'token-secret']);

    const starting = await cli.waitForLog('gateway starting');
    const config = starting.config as Record<string, unknown>;
    expect(config.natsUrl).toBe(nats.url.replace('nats://', 'nats://[redacted]@'));
    expect(config.natsToken).toBe('[redacted]');
    expect(config.host).toBe('127.0.0.1');
    expect(config.shutdownTimeoutMs).toBe(SHUTDOWN_TIMEOUT_MS);
    expect(config.ringCapacity).toBe(100);

    cli.signal('SIGTERM');
    await cli.waitForExit(SHUTDOWN_TIMEOUT_MS + EXIT_SLACK_MS);
    expect(cli.output).not.toContain('secret');
  });

  it('shuts down on SIGTERM, closing clients with 1001', async () => {
    const { cli, port } = await startServe(nats.url);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    const client = await FeedClient.connect(`ws://127.0.0.1:${port}/v1/feed?channels=all:*`);
    await client.waitForOp('subscribed');

    cli.signal('SIGTERM');
    const closeCode = await client.waitForClose(SHUTDOWN_TIMEOUT_MS + EXIT_SLACK_MS);
    const exit = await cli.waitForExit(SHUTDOWN_TIMEOUT_MS + EXIT_SLACK_MS);

    expect(closeCode).toBe(1001);
    expect(exit.code).toBe(0);
    const started = cli.logs().find((line) => line.msg === 'shutdown started');
    expect(started?.signal).toBe('SIGTERM');
    expect(started?.connections).toBe(1);
    expect(cli.logs().some((line) => line.msg === 'shutdown complete')).toBe(true);
  });

  it('replay feeds kills that tail prints', async () => {
    const { port } = await startServe(nats.url);

    const tail = CliProcess.run(['tail', '--url', `ws://127.0.0.1:${port}/v1/feed`, '--limit', '5']);
    // The feed keeps no history, so the replay may start only once tail is subscribed.
    await tail.waitForLog('subscribed');
    const replay = CliProcess.run(['replay', CORPUS_PATH, '--nats-url', nats.url, '--rate', '50', '--limit', '20']);

    const replayExit = await replay.waitForExit();
    const tailExit = await tail.waitForExit();

    expect(replayExit.code).toBe(0);
    expect(tailExit.code).toBe(0);
    const finished = replay.logs().find((line) => line.msg === 'replay finished');
    expect(finished?.published).toBe(20);
    const killLines = tail.stdout.split('\n').filter((line) => line !== '');
    expect(killLines).toHaveLength(5);
    for (const line of killLines) {
      expect(line).toMatch(/^#\d+ {2}\d{4}-\d{2}-\d{2}T\S+ {2}system \d+ {2}region \d+ {2}victim ship \d+ \(group \d+\) {2}\d+ attackers?$/);
    }
  });
  it('tail exits 2 when no channel is valid', async () => {
    const { port } = await startServe(nats.url);

    const tail = CliProcess.run(['tail', '--url', `ws://127.0.0.1:${port}/v1/feed`, '--channels', 'planet:1']);
    const exit = await tail.waitForExit();

    expect(exit.code).toBe(2);
    expect(tail.stderr).toContain('accepted none of the channels');
  });
});
