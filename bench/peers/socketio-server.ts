import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { Server, type Socket } from 'socket.io';

import { KillSource } from './kill-source.js';
import { DetailCheck, parseChannelList, processMetricsText, welcomeFrame } from './peer-protocol.js';
import { METRICS_PATH, type PeerOptions, type PeerServer } from './peer-server.js';

/** Socket.IO event name that carries every v1 frame, in both directions. */
export const FRAME_EVENT = 'frame';

/** Socket.IO's HTTP path, the library default. */
export const SOCKET_IO_PATH = '/socket.io';

/**
 * Starts the Socket.IO 4 comparison server. Each channel is a room, and each event
 * is one broadcast to the union of its channels' rooms, which Socket.IO
 * encodes once and sends to each socket once. Because the frame is shared,
 * batches carry seq 0 and dropped 0, and ACKs are ignored. Socket.IO never
 * drops for a slow client: its send buffer grows until the client reads or
 * misses its ping deadline and is disconnected.
 */
export async function startSocketIoPeer(options: PeerOptions): Promise<PeerServer> {
  const logger = options.logger.child({ server: 'socketio' });
  let nextConnectionId = 1;
  let closed = false;

  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET' && req.url === METRICS_PATH) {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      res.end(processMetricsText());
      return;
    }
    res.writeHead(404).end();
  });

  const io = new Server(http, { path: SOCKET_IO_PATH, serveClient: false, perMessageDeflate: false });

  const source = await KillSource.start({
    natsUrl: options.natsUrl,
    universe: options.universe,
    detail: options.detail,
    logger,
    onEvent: (event) => {
      io.to(event.channels as string[]).emit(FRAME_EVENT, { op: 'batch', seq: 0, dropped: 0, events: [event.event] });
    },
  });

  // A client that requests another detail level fails to connect, with the reason as its connect_error message.
  const detailCheck = new DetailCheck(options.detail, logger);
  io.use((socket, next) => {
    const requested = socket.handshake.query.detail;
    const rejection = detailCheck.rejectionReason(Array.isArray(requested) ? requested.join(',') : requested);
    next(rejection === undefined ? undefined : new Error(rejection));
  });

  io.on('connection', (socket: Socket) => {
    const connectionId = `socketio-${nextConnectionId++}`;
    const query = socket.handshake.query.channels;
    void socket.join(parseChannelList(Array.isArray(query) ? query.join(',') : query));
    socket.emit(FRAME_EVENT, welcomeFrame({ connectionId, intervalMs: 0, latestId: source.latestId }));

    socket.on(FRAME_EVENT, (message: unknown) => {
      if (typeof message !== 'object' || message === null) return;

      const { op, channels } = message as { op?: unknown; channels?: unknown };
      if (op === 'sub' && Array.isArray(channels)) {
        const accepted = parseChannelList(channels);
        void socket.join(accepted);
        socket.emit(FRAME_EVENT, { op: 'subscribed', channels: accepted });
      } else if (op === 'unsub' && Array.isArray(channels)) {
        const accepted = parseChannelList(channels);
        for (const channel of accepted) void socket.leave(channel);
        socket.emit(FRAME_EVENT, { op: 'unsubscribed', channels: accepted });
      } else if (op === 'ping') {
        socket.emit(FRAME_EVENT, { op: 'pong' });
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  logger.info({ port, path: SOCKET_IO_PATH, detail: options.detail }, 'peer listening');

  return {
    port,
    close: async () => {
      if (closed) return;
      closed = true;

      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await source.close();
      logger.info({ port }, 'peer stopped');
    },
  };
}
