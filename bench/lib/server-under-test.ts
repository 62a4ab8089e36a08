import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';

import { PEER_KINDS, type PeerKind } from '../peers/start-peer.js';
import type { ClientTransport } from './feed-client.js';

export const SERVER_KINDS = ['gateway', ...PEER_KINDS] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GATEWAY_CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const PEER_CLI = fileURLToPath(new URL('../peers/cli.ts', import.meta.url));

/** Time a server gets to exit after SIGTERM before it is killed, in ms. */
const STOP_DEADLINE_MS = 10_000;

export interface ServerStartOptions {
  kind: ServerKind;
  port: number;
  natsUrl: string;
  /** File that receives the server's stdout and stderr. */
  logPath: string;
  listenTimeoutMs?: number;
}

/** Returns whether the gateway's CLI exists in this checkout. */
export function gatewayAvailable(): boolean {
  return existsSync(GATEWAY_CLI);
}

/**
 * A server under test, run as its own process (`node --import tsx`, with no
 * wrapper process) so that its CPU time and RSS can be read from /proc.
 */
export class ServerUnderTest {
  private exited: Promise<void>;

  private constructor(
    readonly kind: ServerKind,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(options: ServerStartOptions): Promise<ServerUnderTest> {
    const script = options.kind === 'gateway' ? GATEWAY_CLI : PEER_CLI;
    if (!existsSync(script)) throw new Error(`cannot start ${options.kind}: ${script} does not exist`);

    const args =
      options.kind === 'gateway'
        ? ['serve', '--host', '127.0.0.1', '--port', String(options.port), '--nats-url', options.natsUrl]
        : [options.kind, '--port', String(options.port), '--nats-url', options.natsUrl];

    const log = createWriteStream(options.logPath);
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);

    const server = new ServerUnderTest(options.kind, options.port, child);
    const timeoutMs = options.listenTimeoutMs ?? 20_000;
    try {
      await waitForListen(options.port, child, timeoutMs);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${options.kind} did not listen on 127.0.0.1:${options.port}; see ${options.logPath}`, { cause: err });
    }
    return server;
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.kind} has no pid`);
    return this.child.pid;
  }

  get transport(): ClientTransport {
    return this.kind === 'socketio' ? 'socketio' : 'ws';
  }

  /** The URL clients connect to, without a query. */
  get feedUrl(): string {
    return this.kind === 'socketio' ? `http://127.0.0.1:${this.port}` : `ws://127.0.0.1:${this.port}/v1/feed`;
  }

  get metricsUrl(): string {
    return `http://127.0.0.1:${this.port}/metrics`;
  }

  /**
   * Reads nodejs_heap_size_used_bytes from the server's /metrics, with or
   * without a name prefix (the gateway's is killfeed_). Returns undefined
   * when the endpoint or the gauge is missing.
   */
  async heapUsedBytes(): Promise<number | undefined> {
    try {
      const response = await fetch(this.metricsUrl, { signal: AbortSignal.timeout(2000) });
      if (!response.ok) return undefined;
      const match = /^(?:[a-z_]+_)?nodejs_heap_size_used_bytes(?:\{[^}]*\})? ([0-9.e+]+)$/m.exec(await response.text());
      return match === null ? undefined : Number(match[1]);
    } catch {
      return undefined;
    }
  }

  /** Sends SIGTERM, then SIGKILL after STOP_DEADLINE_MS. Resolves when the process has exited. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;

    this.child.kill('SIGTERM');
    const deadline = setTimeout(() => this.child.kill('SIGKILL'), STOP_DEADLINE_MS);
    await this.exited;
    clearTimeout(deadline);
  }
}

async function waitForListen(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);

    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
