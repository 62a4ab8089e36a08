import uWS from 'uWebSockets.js';

import { KillSource } from './kill-source.js';
import {
  DetailCheck,
  batchFrameJson,
  invalidDetailBody,
  parseChannelList,
  parseClientMessage,
  processMetricsText,
  welcomeFrame,
} from './peer-protocol.js';
import { FEED_PATH, METRICS_PATH, type PeerOptions, type PeerServer } from './peer-server.js';

/**
 * `per-event`: one frame per event, published to each of the event's channels.
 * `batched`: one frame per channel every BATCH_INTERVAL_MS with that channel's events.
 */
export type UwsPublishMode = 'per-event' | 'batched';

export const UWS_PUBLISH_MODES: readonly UwsPublishMode[] = ['per-event', 'batched'];

/** Flush period of the batched mode, in ms. */
export const BATCH_INTERVAL_MS = 100;

/**
 * Default per-socket backpressure limit in bytes, the same as the ws peer's
 * send buffer limit. uWS skips a socket over the limit when publishing, and
 * the client gets no notice of the skipped frame.
 */
export const DEFAULT_MAX_BACKPRESSURE_BYTES = 1024 * 1024;

/** Seconds without traffic before uWS closes a socket; uWS sends pings before that. */
const IDLE_TIMEOUT_SECONDS = 120;

export interface UwsPeerOptions extends PeerOptions {
  mode: UwsPublishMode;
  maxBackpressureBytes?: number;
}

interface UwsClientData {
  connectionId: string;
  channels: string[];
}

/**
 * Starts the uWebSockets.js comparison server on its native pub/sub: each
 * channel is a topic, and app.publish() fans a frame out inside the native layer.
 *
 * All subscribers share one frame, so batches carry seq 0 and dropped 0, and
 * ACKs are ignored. A client subscribed to several channels of one kill
 * receives that kill once per channel. A socket over the backpressure limit
 * silently misses frames.
 */
export async function startUwsPeer(options: UwsPeerOptions): Promise<PeerServer> {
  const logger = options.logger.child({ server: `uws-${options.mode}` });
  const maxBackpressure = options.maxBackpressureBytes ?? DEFAULT_MAX_BACKPRESSURE_BYTES;
  const sockets = new Set<uWS.WebSocket<UwsClientData>>();
  const pending = new Map<string, string[]>();
  let nextConnectionId = 1;
  let listenSocket: uWS.us_listen_socket | undefined;
  let flushTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const app = uWS.App();
  const detailCheck = new DetailCheck(options.detail, logger);

  const source = await KillSource.start({
    natsUrl: options.natsUrl,
    universe: options.universe,
    detail: options.detail,
    logger,
    onEvent: (event) => {
      if (options.mode === 'per-event') {
        const frame = batchFrameJson(0, 0, [event.json]);
        for (const channel of event.channels) app.publish(channel, frame, false);
        return;
      }

      for (const channel of event.channels) {
        if (app.numSubscribers(channel) === 0) continue;
        const events = pending.get(channel);
        if (events === undefined) {
          pending.set(channel, [event.json]);
        } else {
          events.push(event.json);
        }
      }
    },
  });

  if (options.mode === 'batched') {
    flushTimer = setInterval(() => {
      for (const [channel, events] of pending) app.publish(channel, batchFrameJson(0, 0, events), false);
      pending.clear();
    }, BATCH_INTERVAL_MS);
  }

  app.get(METRICS_PATH, (res) => {
    res.writeHeader('Content-Type', 'text/plain; version=0.0.4').end(processMetricsText());
  });

  app.ws<UwsClientData>(FEED_PATH, {
    compression: uWS.DISABLED,
    maxPayloadLength: 16 * 1024,
    maxBackpressure,
    idleTimeout: IDLE_TIMEOUT_SECONDS,
    sendPingsAutomatically: true,

    upgrade: (res, req, context) => {
      const rejection = detailCheck.rejectionReason(req.getQuery('detail'));
      if (rejection !== undefined) {
        res.writeStatus('400 Bad Request').writeHeader('Content-Type', 'application/json').end(invalidDetailBody(rejection));
        return;
      }

      const data: UwsClientData = {
        connectionId: `uws-${nextConnectionId++}`,
        channels: parseChannelList(req.getQuery('channels')),
      };
      res.upgrade(
        data,
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },

    open: (ws) => {
      sockets.add(ws);
      const data = ws.getUserData();
      for (const channel of data.channels) ws.subscribe(channel);
      const intervalMs = options.mode === 'batched' ? BATCH_INTERVAL_MS : 0;
      ws.send(JSON.stringify(welcomeFrame({ connectionId: data.connectionId, intervalMs, latestId: source.latestId })));
    },

    message: (ws, message, isBinary) => {
      if (isBinary) return;

      const parsed = parseClientMessage(Buffer.from(message).toString('utf8'));
      if (parsed === undefined) return;
      if (parsed.op === 'sub') {
        for (const channel of parsed.channels) ws.subscribe(channel);
        ws.send(JSON.stringify({ op: 'subscribed', channels: parsed.channels }));
      } else if (parsed.op === 'unsub') {
        for (const channel of parsed.channels) ws.unsubscribe(channel);
        ws.send(JSON.stringify({ op: 'unsubscribed', channels: parsed.channels }));
      } else if (parsed.op === 'ping') {
        ws.send('{"op":"pong"}');
      }
    },

    close: (ws) => {
      sockets.delete(ws);
    },
  });

  const host = options.host ?? '127.0.0.1';
  listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) => {
    app.listen(host, options.port, (socket) => {
      if (socket === false) {
        reject(new Error(`failed to listen on ${host}:${options.port}`));
        return;
      }
      resolve(socket);
    });
  });
  const port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);
  logger.info({ port, path: FEED_PATH, mode: options.mode, detail: options.detail, maxBackpressure }, 'peer listening');

  return {
    port,
    close: async () => {
      if (closed) return;
      closed = true;

      if (flushTimer !== undefined) clearInterval(flushTimer);
      if (listenSocket !== undefined) uWS.us_listen_socket_close(listenSocket);
      listenSocket = undefined;
      for (const ws of [...sockets]) ws.end(1001, 'server shutting down');
      await source.close();
      logger.info({ port }, 'peer stopped');
    },
  };
}
