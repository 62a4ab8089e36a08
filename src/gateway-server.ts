import type { Logger } from 'pino';
import type { HttpResponse, TemplatedApp, us_listen_socket, WebSocket } from 'uWebSockets.js';
import { CloseCode } from './close-codes.js';
import type { Config } from './config.js';
import type { Connection } from './connection.js';
import type { Detail, WireFormat } from './feed-event.js';
import type { FeedHub } from './feed-hub.js';
import type { HistoryApi } from './history-api.js';
import type { Metrics } from './metrics.js';
import { detectUwsBuild, uWS } from './uws.js';

export interface Readiness {
  ready: boolean;
  reason?: string;
}

export interface GatewayServerOptions {
  config: Config;
  hub: FeedHub;
  metrics: Metrics;
  logger: Logger;
  /** NATS-side readiness; the server adds its own listening state. */
  natsReadiness: () => Readiness;
  historyApi: HistoryApi;
}

interface SocketData {
  connection: Connection;
  initialChannels: string[];
  since: number | undefined;
  /** Set in the close handler; a closed uWS socket must not be touched again. */
  closed: boolean;
}

/**
 * Frames above the configured client frame limit, up to this multiple of it,
 * get a frame_too_large error; larger ones make
 * uWebSockets.js drop the connection before the gateway reads them.
 */
const HARD_FRAME_LIMIT_FACTOR = 4;

/** uWebSockets.js's own send limit; the gateway's backpressure threshold sits far below it. */
const UWS_MAX_BACKPRESSURE_BYTES = 64 * 1024 * 1024;

/**
 * The uWebSockets.js server: the v1 feed endpoint and the HTTP routes
 * (/metrics, /healthz, /readyz) on one port.
 */
export class GatewayServer {
  private readonly app: TemplatedApp;
  private listenSocket: us_listen_socket | undefined;
  private readonly sockets = new Set<WebSocket<SocketData>>();
  private draining = false;
  private readonly nativeUws = detectUwsBuild().native;
  boundPort = 0;

  constructor(private readonly options: GatewayServerOptions) {
    this.app = uWS.App();
    this.routeFeed();
    this.routeHttp();
  }

  get listening(): boolean {
    return this.listenSocket !== undefined;
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    const { host, port } = this.options.config;
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (!socket) {
          reject(new Error(`failed to listen on ${host}:${port}: address in use or not permitted`));
          return;
        }
        this.listenSocket = socket;
        this.boundPort = uWS.us_socket_local_port(socket);
        resolve(this.boundPort);
      });
    });
  }

  /** Stops accepting connections; open sockets stay until closeAll. */
  stopListening(): void {
    this.draining = true;
    if (!this.listenSocket) return;

    uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
  }

  /** Sends the final batches, then closes every socket with 1001. */
  closeAll(): void {
    this.options.hub.flushAll();
    this.options.hub.closeAll(CloseCode.GOING_AWAY, 'server shutting down', 'shutdown');
    for (const socket of [...this.sockets]) {
      if (!socket.getUserData().closed) socket.close();
    }
  }

  readiness(): Readiness {
    if (this.draining) return { ready: false, reason: 'shutting down' };
    if (!this.listening) return { ready: false, reason: 'not listening' };
    return this.options.natsReadiness();
  }

  private routeFeed(): void {
    const { config, hub, metrics, logger } = this.options;

    this.app.ws<SocketData>('/v1/feed', {
      maxPayloadLength: Math.max(config.maxFrameBytes * HARD_FRAME_LIMIT_FACTOR, 64 * 1024),
      maxBackpressure: UWS_MAX_BACKPRESSURE_BYTES,
      closeOnBackpressureLimit: 0,
      idleTimeout: config.idleTimeoutS,
      sendPingsAutomatically: true,

      upgrade: (res, req, context) => {
        // Request data is only valid synchronously; read everything first.
        const query = req.getQuery() ?? '';
        const key = req.getHeader('sec-websocket-key');
        const protocol = req.getHeader('sec-websocket-protocol');
        const extensions = req.getHeader('sec-websocket-extensions');

        if (this.draining) {
          metrics.upgradesRejected.inc({ reason: 'shutting_down' });
          writeJson(res, '503 Service Unavailable', { error: 'shutting_down', message: 'server is shutting down; reconnect to another replica' });
          return;
        }

        const parsed = parseFeedQuery(query);
        if (!parsed.ok) {
          metrics.upgradesRejected.inc({ reason: 'invalid_query' });
          writeJson(res, '400 Bad Request', { error: 'invalid_parameter', parameter: parsed.parameter, message: parsed.message });
          return;
        }

        const connection = hub.createConnection(parsed.format, parsed.detail);
        res.upgrade<SocketData>({ connection, initialChannels: parsed.channels, since: parsed.since, closed: false }, key, protocol, extensions, context);
      },

      open: (ws) => {
        const data = ws.getUserData();
        this.sockets.add(ws);
        const transport = {
          // Native uWS copies a frame during send(), so the batch encoder may reuse its
          // buffer. The pure-JS fallback may queue the frame itself, so it gets a copy.
          send: (frame: Buffer | string, isBinary: boolean) => (data.closed ? 2 : ws.send(this.nativeUws || typeof frame === 'string' ? frame : Buffer.from(frame), isBinary)),
          getBufferedAmount: () => (data.closed ? 0 : ws.getBufferedAmount()),
          end: (code: number, reason: string) => {
            if (data.closed) return;
            data.closed = true;
            ws.end(code, reason);
          },
        };
        hub.open(data.connection, transport, data.initialChannels, data.since);
        logger.debug({ connection: data.connection.id, format: data.connection.format, detail: data.connection.detail }, 'client connected');
      },

      message: (ws, message, isBinary) => {
        hub.handleFrame(ws.getUserData().connection, message, isBinary);
      },

      drain: (ws) => {
        hub.handleDrain(ws.getUserData().connection);
      },

      close: (ws, code) => {
        const data = ws.getUserData();
        data.closed = true;
        this.sockets.delete(ws);
        hub.close(data.connection, 'client');
        logger.debug({ connection: data.connection.id, code }, 'client disconnected');
      },
    });
  }

  private routeHttp(): void {
    const { metrics } = this.options;

    this.app.get('/api/kill_feed', (res, req) => {
      const query = req.getQuery() ?? '';
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });

      this.options.historyApi.handle(query).then(
        (reply) => {
          metrics.historyRequests.inc({ status: `${String(reply.status)[0]}xx` });
          if (!aborted) writeJson(res, reply.statusLine, reply.body);
        },
        (err: unknown) => {
          this.options.logger.error({ err }, 'history request failed');
          metrics.historyRequests.inc({ status: '5xx' });
          if (!aborted) writeJson(res, '500 Internal Server Error', { error: 'internal_error', message: 'history could not be read' });
        },
      );
    });

    this.app.get('/healthz', (res) => {
      writeJson(res, '200 OK', { status: 'ok' });
    });

    this.app.get('/readyz', (res) => {
      const state = this.readiness();
      if (state.ready) writeJson(res, '200 OK', { status: 'ready' });
      else writeJson(res, '503 Service Unavailable', { status: 'not_ready', reason: state.reason ?? 'unknown' });
    });

    this.app.get('/metrics', (res) => {
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });

      metrics.registry.metrics().then(
        (body) => {
          if (aborted) return;
          res.cork(() => {
            res.writeStatus('200 OK').writeHeader('Content-Type', metrics.registry.contentType).end(body);
          });
        },
        (err: unknown) => {
          this.options.logger.error({ err }, 'metrics collection failed');
          if (aborted) return;
          res.cork(() => {
            res.writeStatus('500 Internal Server Error').end('metrics collection failed');
          });
        },
      );
    });

    this.app.get('/v1/feed', (res) => {
      // uWebSockets.js routes upgrade requests to the ws handler; a plain GET lands here.
      res.cork(() => {
        res
          .writeStatus('426 Upgrade Required')
          .writeHeader('Upgrade', 'websocket')
          .writeHeader('Content-Type', 'application/json')
          .end(JSON.stringify({ error: 'upgrade_required', message: '/v1/feed is a WebSocket endpoint; connect with a WebSocket client' }));
      });
    });

    for (const path of ['/api/kill_feed', '/metrics', '/healthz', '/readyz']) {
      this.app.any(path, (res) => {
        writeJson(res, '405 Method Not Allowed', { error: 'method_not_allowed', message: `${path} accepts GET only` });
      });
    }

    this.app.any('/*', (res) => {
      writeJson(res, '404 Not Found', { error: 'not_found', message: 'routes: /v1/feed (WebSocket), /api/kill_feed, /metrics, /healthz, /readyz' });
    });
  }
}

function writeJson(res: HttpResponse, status: string, body: unknown): void {
  res.cork(() => {
    res.writeStatus(status).writeHeader('Content-Type', 'application/json').end(JSON.stringify(body));
  });
}

export type FeedQuery =
  | { ok: true; format: WireFormat; detail: Detail; channels: string[]; since: number | undefined }
  | { ok: false; parameter: string; message: string };

/** Parses the feed URL's query: format, detail, channels and since. */
export function parseFeedQuery(query: string): FeedQuery {
  const params = new URLSearchParams(query);

  const format = params.get('format') ?? 'json';
  if (format !== 'json' && format !== 'msgpack') {
    return { ok: false, parameter: 'format', message: `format=${JSON.stringify(format)} is invalid; allowed: json, msgpack` };
  }

  const detail = params.get('detail') ?? 'full';
  if (detail !== 'full' && detail !== 'summary') {
    return { ok: false, parameter: 'detail', message: `detail=${JSON.stringify(detail)} is invalid; allowed: full, summary` };
  }

  const channels = params
    .getAll('channels')
    .flatMap((value) => value.split(','))
    .map((value) => value.trim())
    .filter((value) => value !== '');

  const rawSince = params.get('since');
  let since: number | undefined;
  if (rawSince !== null) {
    since = Number(rawSince);
    if (rawSince === '' || !Number.isSafeInteger(since) || since < 0) {
      return { ok: false, parameter: 'since', message: `since=${JSON.stringify(rawSince)} is invalid; expected a non-negative integer event id` };
    }
  }

  return { ok: true, format, detail, channels, since };
}
