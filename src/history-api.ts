import type { ChannelParseResult } from './feed-hub.js';
import type { Detail, FeedEvent } from './feed-event.js';
import type { History } from './history.js';

export const HISTORY_DEFAULT_LIMIT = 50;
export const HISTORY_MAX_LIMIT = 200;

export interface HistoryReply {
  status: number;
  statusLine: string;
  body: unknown;
}

/**
 * GET /api/kill_feed: pages of past events, newest first, in the same shape
 * as WebSocket events. Parameters: before_id, limit (1–200, default 50),
 * channel (repeatable; none means all), detail (full or summary).
 */
export class HistoryApi {
  constructor(
    private readonly history: () => History,
    private readonly latestId: () => number,
    private readonly parseChannel: (raw: string) => ChannelParseResult,
  ) {}

  async handle(query: string): Promise<HistoryReply> {
    const params = new URLSearchParams(query);

    const known = new Set(['before_id', 'limit', 'channel', 'detail']);
    for (const name of params.keys()) {
      if (!known.has(name)) return badRequest(name, `unknown parameter ${JSON.stringify(name)}; allowed: before_id, limit, channel, detail`);
      if (name !== 'channel' && params.getAll(name).length > 1) return badRequest(name, `${name} is given more than once; only channel may repeat`);
    }

    const rawBefore = params.get('before_id');
    let beforeId: number | undefined;
    if (rawBefore !== null) {
      beforeId = Number(rawBefore);
      if (rawBefore === '' || !Number.isSafeInteger(beforeId) || beforeId < 1) return badRequest('before_id', `before_id=${JSON.stringify(rawBefore)} is invalid; expected a positive integer event id`);
    }

    const rawLimit = params.get('limit');
    const limit = rawLimit === null ? HISTORY_DEFAULT_LIMIT : Number(rawLimit);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > HISTORY_MAX_LIMIT) {
      return badRequest('limit', `limit=${JSON.stringify(rawLimit)} is invalid; expected an integer from 1 to ${HISTORY_MAX_LIMIT}`);
    }

    const detail = params.get('detail') ?? 'full';
    if (detail !== 'full' && detail !== 'summary') return badRequest('detail', `detail=${JSON.stringify(detail)} is invalid; allowed: full, summary`);

    const channels = new Set<string>();
    for (const raw of params.getAll('channel')) {
      const parsed = this.parseChannel(raw);
      if (!parsed.ok) return badRequest('channel', parsed.message);
      channels.add(parsed.channel);
    }

    const matches = channels.size === 0 ? () => true : (event: FeedEvent) => event.kill.channels.some((channel) => channels.has(channel));
    const history = this.history();
    const cursor = beforeId ?? Math.max(this.latestId(), await history.newestRetainedId()) + 1;
    const page = await history.page(cursor, limit, matches);

    return {
      status: 200,
      statusLine: '200 OK',
      body: { events: page.events.map((event) => event.toWire(detail as Detail)), next_before_id: page.nextBeforeId },
    };
  }
}

function badRequest(parameter: string, message: string): HistoryReply {
  return { status: 400, statusLine: '400 Bad Request', body: { error: 'invalid_parameter', parameter, message } };
}
