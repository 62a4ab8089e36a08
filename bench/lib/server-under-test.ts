import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { FeedDetail } from '../k6/lib/killfeed-protocol.js';
import { PEER_KINDS } from '../peers/start-peer.js';
import type { ClientTransport } from './feed-client.js';

export const SERVER_KINDS = ['gateway', ...PEER_KINDS] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GATEWAY_CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const PEER_CLI = fileURLToPath(new URL('../peers/cli.ts', import.meta.url));

/**
 * Time a server gets to exit after SIGTERM before it is killed, in ms. It
 * is above the gateway's default shutdown deadline of 10 s, so that Node
 * still has time to write a --cpu-prof profile, which SIGKILL would lose.
 */
const STOP_DEADLINE_MS = 30_000;

/** Node flags that name an output directory, which the harness creates before starting the server. */
const DIRECTORY_FLAGS = ['--cpu-prof-dir', '--heap-prof-dir', '--diagnostic-dir', '--report-directory'];

export interface ServerStartOptions {
  kind: ServerKind;
  port: number;
  natsUrl: string;
  /**
   * Detail level of the events. The gateway serves each connection the
   * level its URL requests; a comparison server is started with `--detail`
   * and serves only that level.
   */
  detail: FeedDetail;
  /** Node flags for the server process only, placed before `--import tsx`, such as `--cpu-prof`. */
  nodeArgs: readonly string[];
  /** File that receives the server's stdout and stderr. */
  logPath: string;
  listenTimeoutMs?: number;
}

/** Outcome of stopping a server: `exited` on its own after SIGTERM, or `killed` with SIGKILL at the stop deadline. */
export type StopOutcome = 'exited' | 'killed';

/**
 * Splits the value of --server-node-args into Node flags. Each token must
 * start with `-`, with a flag's value joined by `=` (`--cpu-prof-dir=DIR`),
 * because a bare word would be taken as the script to run. Quotes are not
 * parsed, so a value cannot contain a space.
 */
export function parseNodeArgs(raw: string): string[] {
  const args = raw.split(/\s+/).filter((arg) => arg !== '');
  const word = args.find((arg) => !arg.startsWith('-'));
  if (word !== undefined) {
    throw new Error(`invalid Node flag ${JSON.stringify(word)} in ${JSON.stringify(raw)}: join each flag and its value with =, as in --cpu-prof-dir=DIR`);
  }
  return args;
}

/**
 * Creates the directories that output flags such as --cpu-prof-dir name.
 * Node creates the --cpu-prof directory itself, but a --diagnostic-dir that
 * does not exist makes the server crash on its first heap snapshot.
 * Relative paths resolve against the repository root, the server's working directory.
 */
function createOutputDirectories(nodeArgs: readonly string[]): void {
  for (const arg of nodeArgs) {
    const [flag, value] = arg.split('=', 2);
    if (flag === undefined || value === undefined || value === '' || !DIRECTORY_FLAGS.includes(flag)) continue;
    mkdirSync(resolve(REPO_ROOT, value), { recursive: true });
  }
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
        : [options.kind, '--port', String(options.port), '--nats-url', options.natsUrl, '--detail', options.detail];

    createOutputDirectories(options.nodeArgs);
    const log = createWriteStream(options.logPath);
    const child = spawn(process.execPath, [...options.nodeArgs, '--import', 'tsx', script, ...args], {
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

  /**
   * Sends SIGTERM, then SIGKILL after STOP_DEADLINE_MS. Resolves when the
   * process has exited, with `killed` when it needed SIGKILL; a killed
   * server wrote no --cpu-prof profile.
   */
  async stop(): Promise<StopOutcome> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return 'exited';

    let killed = false;
    this.child.kill('SIGTERM');
    const deadline = setTimeout(() => {
      killed = true;
      this.child.kill('SIGKILL');
    }, STOP_DEADLINE_MS);
    await this.exited;
    clearTimeout(deadline);
    return killed ? 'killed' : 'exited';
  }

  /** Exit code of the process, null while it runs or when a signal ended it. */
  get exitCode(): number | null {
    return this.child.exitCode;
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
