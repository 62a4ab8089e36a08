import type { EsiKillmail, KillSummary, SummaryParty } from './kill.js';
import type { Universe } from './universe.js';

/**
 * Channel vocabulary: `all:*` matches every kill, and `type:ID` matches
 * kills that involve the id. Keys are canonical
 * (`type:id`, the id in decimal without leading zeros), so a kill's channel
 * list and a client's parsed subscription compare as plain strings.
 */

export const ALL_CHANNEL = 'all:*';

export const CHANNEL_TYPES = [
  'all',
  'character',
  'corporation',
  'alliance',
  'faction',
  'ship',
  'group',
  'system',
  'constellation',
  'region',
] as const;

export type ChannelType = (typeof CHANNEL_TYPES)[number];

/** Maximum length of a channel name as a client sends it, in UTF-16 code units. */
export const MAX_CHANNEL_LENGTH = 64;

export type ChannelErrorCode = 'unknown_channel' | 'invalid_channel';

export type ChannelParseResult =
  | { ok: true; channel: string }
  | { ok: false; code: ChannelErrorCode; message: string };

const CHANNEL_TYPE_SET: ReadonlySet<string> = new Set(CHANNEL_TYPES);
const EXPECTED_CHANNELS = CHANNEL_TYPES.map((type) => (type === 'all' ? ALL_CHANNEL : `${type}:ID`)).join(', ');
const DECIMAL_DIGITS = /^[0-9]+$/;

/** Party ids that have a channel of the same name. */
const PARTY_ID_CHANNELS = [
  ['character_id', 'character:'],
  ['corporation_id', 'corporation:'],
  ['alliance_id', 'alliance:'],
  ['faction_id', 'faction:'],
] as const;

/**
 * Parses a channel name sent by a client into its canonical key.
 *
 * An unrecognised type is `unknown_channel`. A missing, malformed or
 * non-positive id, a name over MAX_CHANNEL_LENGTH, or a system,
 * constellation, region or group id absent from the universe map is
 * `invalid_channel`. Character, corporation, alliance, faction and ship ids
 * are not checked against any list.
 */
export function parseChannel(raw: string, universe: Universe): ChannelParseResult {
  if (typeof raw !== 'string') {
    return invalidChannel(`channel must be a string, got ${typeof raw}`);
  }
  if (raw.length > MAX_CHANNEL_LENGTH) {
    const head = quote(raw.slice(0, MAX_CHANNEL_LENGTH));
    return invalidChannel(`channel ${head}… is ${raw.length} characters long, over the maximum of ${MAX_CHANNEL_LENGTH}`);
  }

  const colon = raw.indexOf(':');
  const type = colon < 0 ? raw : raw.slice(0, colon);
  if (!CHANNEL_TYPE_SET.has(type)) {
    return {
      ok: false,
      code: 'unknown_channel',
      message: `unknown channel type ${quote(type)} in ${quote(raw)}; expected one of ${EXPECTED_CHANNELS}`,
    };
  }

  if (type === 'all') {
    if (raw === ALL_CHANNEL) return { ok: true, channel: ALL_CHANNEL };
    return invalidChannel(`channel ${quote(raw)} is invalid; the only channel of type all is ${ALL_CHANNEL}`);
  }
  if (colon < 0) {
    return invalidChannel(`channel ${quote(raw)} has no id; expected ${type}:ID`);
  }

  const idText = raw.slice(colon + 1);
  const id = DECIMAL_DIGITS.test(idText) ? Number(idText) : Number.NaN;
  if (!Number.isSafeInteger(id) || id <= 0) {
    return invalidChannel(`channel ${quote(raw)} has the invalid id ${quote(idText)}; expected a positive decimal integer`);
  }

  const unknownId = describeUnknownId(type as ChannelType, id, universe);
  if (unknownId !== undefined) {
    return invalidChannel(`channel ${quote(raw)} names ${unknownId}`);
  }

  return { ok: true, channel: `${type}:${id}` };
}

/**
 * Returns the canonical channel keys a kill matches, without duplicates:
 *
 * - `all:*`;
 * - character, corporation, alliance and faction of the victim and every attacker;
 * - their ship types, and the groups of those types;
 * - the kill's system, constellation and region.
 *
 * Constellation, region and group keys are left out when the universe map
 * lacks the system or type. Expects a killmail that decodeKill validated.
 * Cost: one string per party id before deduplication, so O(attackers).
 */
export function channelsOfKill(killmail: EsiKillmail, universe: Universe): string[] {
  const keys = new Set<string>();
  keys.add(ALL_CHANNEL);

  addPartyChannels(keys, killmail.victim, universe);
  for (const attacker of killmail.attackers) {
    addPartyChannels(keys, attacker, universe);
  }

  const systemId = killmail.solar_system_id;
  keys.add(`system:${systemId}`);
  const constellationId = universe.constellationOf(systemId);
  if (constellationId !== undefined) keys.add(`constellation:${constellationId}`);
  const regionId = universe.regionOf(systemId);
  if (regionId !== undefined) keys.add(`region:${regionId}`);

  return [...keys];
}

/**
 * Builds the `detail=summary` shape of a kill. `final_blow` is the first
 * attacker whose final_blow is true, omitted when none is; `total_value` is
 * zkb.totalValue when that is a finite number.
 */
export function summarizeKill(
  killmail: EsiKillmail,
  zkb: Record<string, unknown> | undefined,
  universe: Universe,
): KillSummary {
  const systemId = killmail.solar_system_id;
  const summary: KillSummary = {
    killmail_id: killmail.killmail_id,
    killmail_time: killmail.killmail_time,
    solar_system_id: systemId,
    victim: summarizeParty(killmail.victim, universe),
    attacker_count: killmail.attackers.length,
  };

  const constellationId = universe.constellationOf(systemId);
  if (constellationId !== undefined) summary.constellation_id = constellationId;
  const regionId = universe.regionOf(systemId);
  if (regionId !== undefined) summary.region_id = regionId;

  const finalBlow = killmail.attackers.find((attacker) => attacker.final_blow === true);
  if (finalBlow !== undefined) summary.final_blow = summarizeParty(finalBlow, universe);

  const totalValue = zkb?.totalValue;
  if (typeof totalValue === 'number' && Number.isFinite(totalValue)) summary.total_value = totalValue;

  return summary;
}

function addPartyChannels(keys: Set<string>, party: Record<string, unknown>, universe: Universe): void {
  for (const [field, prefix] of PARTY_ID_CHANNELS) {
    const id = party[field];
    if (isPositiveInteger(id)) keys.add(prefix + id);
  }

  const shipTypeId = party.ship_type_id;
  if (!isPositiveInteger(shipTypeId)) return;

  keys.add(`ship:${shipTypeId}`);
  const groupId = universe.groupOf(shipTypeId);
  if (groupId !== undefined) keys.add(`group:${groupId}`);
}

function summarizeParty(party: Record<string, unknown>, universe: Universe): SummaryParty {
  const summary: SummaryParty = {};

  const { character_id, corporation_id, alliance_id, ship_type_id } = party;
  if (isPositiveInteger(character_id)) summary.character_id = character_id;
  if (isPositiveInteger(corporation_id)) summary.corporation_id = corporation_id;
  if (isPositiveInteger(alliance_id)) summary.alliance_id = alliance_id;
  if (isPositiveInteger(ship_type_id)) {
    summary.ship_type_id = ship_type_id;
    const groupId = universe.groupOf(ship_type_id);
    if (groupId !== undefined) summary.group_id = groupId;
  }

  return summary;
}

/** Describes an id that the universe map lacks; undefined when the map has it or the type is not looked up. */
function describeUnknownId(type: ChannelType, id: number, universe: Universe): string | undefined {
  switch (type) {
    case 'system':
      return universe.hasSystem(id) ? undefined : `solar system ${id}, which is not in the universe map`;
    case 'constellation':
      return universe.hasConstellation(id) ? undefined : `constellation ${id}, which is not in the universe map`;
    case 'region':
      return universe.hasRegion(id) ? undefined : `region ${id}, which is not in the universe map`;
    case 'group':
      return universe.hasGroup(id) ? undefined : `group ${id}, which no type in the universe map belongs to`;
    default:
      return undefined;
  }
}

function invalidChannel(message: string): ChannelParseResult {
  return { ok: false, code: 'invalid_channel', message };
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** Quotes a client-supplied string for a message; JSON escaping keeps control characters visible. */
function quote(value: string): string {
  return JSON.stringify(value);
}
