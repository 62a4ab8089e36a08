import type { PeerOptions, PeerServer } from './peer-server.js';
import { startSocketIoPeer } from './socketio-server.js';
import { startUwsPeer } from './uws-publish-server.js';
import { startWsPeer } from './ws-server.js';

export const PEER_KINDS = ['ws', 'socketio', 'uws-per-event', 'uws-batched'] as const;
export type PeerKind = (typeof PEER_KINDS)[number];

export function startPeer(kind: PeerKind, options: PeerOptions): Promise<PeerServer> {
  switch (kind) {
    case 'ws':
      return startWsPeer(options);
    case 'socketio':
      return startSocketIoPeer(options);
    case 'uws-per-event':
      return startUwsPeer({ ...options, mode: 'per-event' });
    case 'uws-batched':
      return startUwsPeer({ ...options, mode: 'batched' });
  }
}
