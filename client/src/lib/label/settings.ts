// The labelling settings as the API sends them (labelSettings), turned into the key maps bindings.ts layers.

import type { KeyMap } from './bindings';

/** The fields of a KeyMap the client reads. */
export const KEY_MAP_FIELDS = 'classes { name key } none actions { action keys }';
export const LABEL_SETTINGS = `projectKeyMap { ${KEY_MAP_FIELDS} } myKeyMap { ${KEY_MAP_FIELDS} } afterSave`;

export interface ApiKeyMap {
  classes: { name: string; key: string }[]; none: string | null; actions?: { action: string; keys: string[] }[];
}

export interface LabelSettings {
  projectKeyMap: ApiKeyMap | null; myKeyMap: ApiKeyMap | null; afterSave: 'ORDER' | 'NEEDS_WORK';
}

export function fromApi(m: ApiKeyMap | null): KeyMap | null {
  if (!m) return null;
  return { classes: Object.fromEntries(m.classes.map((c) => [c.name, c.key])), none: m.none,
           actions: Object.fromEntries((m.actions ?? []).map((a) => [a.action, a.keys])) };
}

export function toApi(m: KeyMap): ApiKeyMap {
  return { classes: Object.entries(m.classes).map(([name, key]) => ({ name, key })), none: m.none ?? null,
           actions: Object.entries(m.actions ?? {}).map(([action, keys]) => ({ action, keys })) };
}
