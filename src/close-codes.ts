/**
 * WebSocket close codes and protocol error codes, the one catalogue the
 * gateway and docs/protocol.md share.
 *
 * Close code ranges: 4000–4499 means the client should reconnect (with
 * backoff); 4500–4999 means it should not until it changes what it sends.
 * 1001 is sent to every client on graceful shutdown and also means reconnect.
 * A client frame over four times the frame limit (and at least 64 KiB) makes
 * uWebSockets.js drop the TCP connection without a close frame, so the
 * client sees 1006.
 */
export const CloseCode = {
  /** Server shutting down or restarting: reconnect, to this or another replica. */
  GOING_AWAY: 1001,
  /** No ACK and no socket drain for the slow-consumer timeout: reconnect and read faster. */
  SLOW_CONSUMER: 4000,
  /** Too many protocol errors on this connection: fix the client before reconnecting. */
  PROTOCOL_VIOLATION: 4500,
} as const;

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/** Returns whether a client closed with `code` should reconnect. */
export function shouldReconnect(code: number): boolean {
  if (code >= 4500 && code <= 4999) return false;
  return true;
}

/** Codes of `{"op":"error"}` messages. Every code counts as one violation unless noted. */
export const ErrorCode = {
  INVALID_JSON: 'invalid_json',
  INVALID_MSGPACK: 'invalid_msgpack',
  INVALID_MESSAGE: 'invalid_message',
  UNKNOWN_OP: 'unknown_op',
  UNKNOWN_CHANNEL: 'unknown_channel',
  INVALID_CHANNEL: 'invalid_channel',
  TOO_MANY_CHANNELS: 'too_many_channels',
  FRAME_TOO_LARGE: 'frame_too_large',
  INVALID_ACK: 'invalid_ack',
  /** A resume while another is still reading history. */
  RESUME_IN_PROGRESS: 'resume_in_progress',
} as const;

/**
 * Notices in `{"op":"error"}` messages that report a server-side condition
 * rather than a client mistake; they do not count as violations.
 */
export const NoticeCode = {
  /** The resume point is older than retained history; delivery continues from `oldest_id`. */
  HISTORY_TRUNCATED: 'history_truncated',
  /** History could not be read; the connection continues live only. */
  RESUME_FAILED: 'resume_failed',
  /** The resume point is newer than any id this gateway or its stream has; delivery continues live. */
  RESUME_AHEAD: 'resume_ahead',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ERROR_CODES: readonly ErrorCodeValue[] = Object.values(ErrorCode);

/** Bounded reasons a connection closed, for the connections-closed metric. */
export const CLOSE_REASONS = ['client', 'slow_consumer', 'protocol_violation', 'shutdown'] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];
