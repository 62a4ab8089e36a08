/**
 * A killmail as the gateway routes it: the validated ESI object, the
 * zKillboard block when the source had one, and the fields that channel
 * matching and the summary detail level read.
 */

/** The ESI killmail object, passed through to clients as received. */
export type EsiKillmail = Record<string, unknown> & {
  killmail_id: number;
  killmail_time: string;
  solar_system_id: number;
  victim: Record<string, unknown>;
  attackers: Array<Record<string, unknown>>;
};

/** One party of a kill in the summary detail level. Absent ids are omitted. */
export interface SummaryParty {
  character_id?: number;
  corporation_id?: number;
  alliance_id?: number;
  ship_type_id?: number;
  group_id?: number;
}

/** The `detail=summary` shape of an event, without `id` and `received_at`. */
export interface KillSummary {
  killmail_id: number;
  killmail_time: string;
  solar_system_id: number;
  constellation_id?: number;
  region_id?: number;
  victim: SummaryParty;
  final_blow?: SummaryParty;
  attacker_count: number;
  total_value?: number;
}

/** A decoded and validated kill, ready for routing. */
export interface Kill {
  killmail: EsiKillmail;
  zkb?: Record<string, unknown>;
  killmailId: number;
  /** Canonical channel keys this kill matches, without duplicates, `all:*` included. */
  channels: readonly string[];
  summary: KillSummary;
}
