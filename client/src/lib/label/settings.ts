// The labelling settings as the API sends them (labelSettings), turned into the key maps bindings.ts layers.

import type { KeyMap } from './bindings';

export const LABEL_SETTINGS = `projectKeyMap { classes { name key } none } myKeyMap { classes { name key } none }
  afterSave`;

export interface ApiKeyMap { classes: { name: string; key: string }[]; none: string | null }

export interface LabelSettings {
  projectKeyMap: ApiKeyMap | null; myKeyMap: ApiKeyMap | null; afterSave: 'ORDER' | 'NEEDS_WORK';
}

export function fromApi(m: ApiKeyMap | null): KeyMap | null {
  if (!m) return null;
  return { classes: Object.fromEntries(m.classes.map((c) => [c.name, c.key])), none: m.none };
}

export function toApi(m: KeyMap): ApiKeyMap {
  return { classes: Object.entries(m.classes).map(([name, key]) => ({ name, key })), none: m.none ?? null };
}
