import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';

export interface NatsServerOptions {
  jetstream?: boolean;
  port?: number;
}

/**
 * A real nats-server child process on a free loopback port. Tests start one
 * per file; stop() and start() keep the same port so clients can reconnect.
 */
export class NatsServer {
  readonly port: number;
  readonly url: string;
  private child: ChildProcess | undefined;
  private storeDir: string | undefined;
  private readonly jetstream: boolean;

  private constructor(port: number, jetstream: boolean) {
    this.port = port;
    this.url = `nats://127.0.0.1:${port}`;
    this.jetstream = jetstream;
  }

  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const port = options.port ?? (await freePort());
    const server = new NatsServer(port, options.jetstream ?? false);
    await server.start();
    return server;
  }

  async start(): Promise<void> {
    if (this.child) return;

    const args = ['-a', '127.0.0.1', '-p', String(this.port)];
    if (this.jetstream) {
      this.storeDir ??= await mkdtemp(join(tmpdir(), 'killfeed-js-'));
      args.push('-js', '-sd', this.storeDir);
    }

    const child = spawn(natsServerBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });

    try {
      await waitForPort(this.port, 10_000);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`nats-server did not listen on 127.0.0.1:${this.port}: ${stderr.slice(-2000)}`, { cause: err });
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;

    this.child = undefined;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    if (this.storeDir) await rm(this.storeDir, { recursive: true, force: true });
  }
}

function natsServerBinary(): string {
  return process.env.NATS_SERVER_BIN ?? 'nats-server';
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('failed to read the bound port'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
