/** NATS header carrying the producer's publish time in ms since epoch; end-to-end freshness is measured from it. */
export const PUBLISHED_AT_HEADER = 'Killfeed-Published-At';

/** NATS and JetStream header naming a message for deduplication; producers set it to the killmail_id. */
export const MESSAGE_ID_HEADER = 'Nats-Msg-Id';
