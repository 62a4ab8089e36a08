import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { WebSocket, WebSocketServer } from 'ws';

import { KillSource, type PeerEvent } from './kill-source.js';
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
 * Default limit of bytes queued in one socket's send buffer. A client over
 * it misses events, which its next batch reports in `dropped`.
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;

export interface WsPeerOptions extends PeerOptions {
  maxBufferedBytes?: number;
}

interface WsClient {
  socket: WebSocket;
  channels: Set<string>;
  seq: number;
  /** Events skipped since the previous batch because the send buffer was over its limit. */
  dropped: number;
  /** Id of the latest event sent or dropped, so a kill that matches several channels goes out once. */
  lastEventId: number;
}

/**
 * Starts the hand-rolled comparison server on the `ws` package: every event
 * goes out at once as its own batch frame to every matching client. Each event is
 * serialized once, and each client gets its own frame string for its seq.
 * ACKs are ignored, so delivery is not paced by the client.
 */
export async function startWsPeer(options: WsPeerOptions): Promise<PeerServer> {
  const logger = options.logger.child({ server: 'ws' });
  const maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  const subscribers = new Map<string, Set<WsClient>>();
  let nextConnectionId = 1;
  let closed = false;

  const subscribe = (client: WsClient, channels: readonly string[]): void => {
    for (const channel of channels) {
      client.channels.add(channel);
      let set = subscribers.get(channel);
      if (set === undefined) {
        set = new Set();
        subscribers.set(channel, set);
      }
      set.add(client);
    }
  };

  const unsubscribe = (client: WsClient, channels: Iterable<string>): void => {
    for (const channel of [...channels]) {
      client.channels.delete(channel);
      const set = subscribers.get(channel);
      set?.delete(client);
      if (set?.size === 0) subscribers.delete(channel);
    }
  };

  const deliver = (client: WsClient, event: PeerEvent): void => {
    if (client.socket.readyState !== WebSocket.OPEN) return;

    if (client.socket.bufferedAmount > maxBufferedBytes) {
      client.dropped += 1;
      return;
    }

    client.seq += 1;
    client.socket.send(batchFrameJson(client.seq, client.dropped, [event.json]));
    client.dropped = 0;
  };

  const source = await KillSource.start({
    natsUrl: options.natsUrl,
    universe: options.universe,
    detail: options.detail,
    logger,
    onEvent: (event) => {
      for (const channel of event.channels) {
        const set = subscribers.get(channel);
        if (set === undefined) continue;

        for (const client of set) {
          if (client.lastEventId === event.id) continue;
          client.lastEventId = event.id;
          deliver(client, event);
        }
      }
    },
  });

  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET' && req.url === METRICS_PATH) {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      res.end(processMetricsText());
      return;
    }
    res.writeHead(404).end();
  });

  const detailCheck = new DetailCheck(options.detail, logger);
  const wss = new WebSocketServer({
    server: http,
    path: FEED_PATH,
    perMessageDeflate: false,
    verifyClient: (info, accept) => {
      const query = new URL(info.req.url ?? '/', 'http://localhost').searchParams;
      const rejection = detailCheck.rejectionReason(query.get('detail'));
      if (rejection === undefined) {
        accept(true);
        return;
      }
      accept(false, 400, invalidDetailBody(rejection), { 'Content-Type': 'application/json' });
    },
  });
  wss.on('connection', (socket, req) => {
    const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const client: WsClient = { socket, channels: new Set(), seq: 0, dropped: 0, lastEventId: 0 };
    const connectionId = `ws-${nextConnectionId++}`;

    subscribe(client, parseChannelList(query.get('channels')));
    socket.send(JSON.stringify(welcomeFrame({ connectionId, intervalMs: 0, latestId: source.latestId })));

    socket.on('message', (data, isBinary) => {
      if (isBinary) return;

      const message = parseClientMessage(data.toString());
      if (message === undefined) return;
      if (message.op === 'sub') {
        subscribe(client, message.channels);
        socket.send(JSON.stringify({ op: 'subscribed', channels: message.channels }));
      } else if (message.op === 'unsub') {
        unsubscribe(client, message.channels);
        socket.send(JSON.stringify({ op: 'unsubscribed', channels: message.channels }));
      } else if (message.op === 'ping') {
        socket.send('{"op":"pong"}');
      }
    });

    socket.on('error', (err) => logger.debug({ err, connectionId }, 'socket error'));
    socket.on('close', () => unsubscribe(client, client.channels));
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  logger.info({ port, path: FEED_PATH, detail: options.detail, maxBufferedBytes }, 'peer listening');

  return {
    port,
    close: async () => {
      if (closed) return;
      closed = true;

      for (const socket of wss.clients) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await source.close();
      logger.info({ port }, 'peer stopped');
    },
  };
}
