// Which key does what in the labelling view: the defaults (classes 1–9, then Shift+1–9; E for "none of these / no
// objects"; every other action's keys in db/label_actions.json, the file the server checks key maps against),
// overridden by the project owner's map, overridden by the user's own. A key map names classes, not positions, so
// reordering the classes keeps a remapped key on its class.

import ACTION_TABLE from '../../../../db/label_actions.json';

/** Whether an action needs boxes selected (the nudges), none selected (previous / next image) or acts any time. */
export type Scope = 'any' | 'selection' | 'noSelection';
export interface ActionInfo { action: string; keys: string[]; scope: Scope; what: string }
export const ACTIONS = ACTION_TABLE as ActionInfo[];
export type Action = string; // one of ACTIONS' names

export type KeyAction = number | 'none' | Action; // a class index, "none of these / no objects", or an action

/** A key map as stored (project default or a user's override): class name -> key, the "none" key, action -> keys. */
export interface KeyMap { classes: Record<string, string>; none?: string | null; actions?: Record<Action, string[]> }

export interface Bindings {
  byKey: Map<string, KeyAction[]>; // several holders only when they never act at the same moment (see meet)
  classKeys: string[]; // per class index: its key, or '' when it has none
  noneKey: string;
  actionKeys: Record<Action, string[]>;
}

export const DEFAULT_NONE_KEY = 'e';

const NAMED = new Set(['Enter', 'Escape', 'Tab', 'Backspace', 'Delete', 'Insert', 'Home', 'End', 'PageUp', 'PageDown',
  'ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'Space', ...Array.from({ length: 12 }, (_, i) => `F${i + 1}`)]);
const PUNCTUATION = /^[!-/:-@[-`{-~]$/;

/** The form of a key, as the server checks it: Ctrl+, Alt+ in that order, then a digit, a lower-case letter or a
 * named key (Shift+ allowed before those), or one punctuation mark as typed (? rather than Shift+/). */
export function isKey(key: string): boolean {
  const m = /^(Ctrl\+)?(Alt\+)?(.+)$/.exec(key);
  if (!m) return false;
  const rest = m[3];
  if (PUNCTUATION.test(rest)) return true;
  const base = rest.startsWith('Shift+') ? rest.slice(6) : rest;
  return /^[0-9a-z]$/.test(base) || NAMED.has(base);
}

/** Keys the browser or the app keeps for itself: never given to an action (the server refuses them too). */
export const RESERVED: Record<string, string> = {
  Space: 'panning (hold Space and drag)',
  'Ctrl+w': 'the browser (close the tab)', 'Ctrl+t': 'the browser (new tab)', 'Ctrl+n': 'the browser (new window)',
  'Ctrl+Shift+n': 'the browser (new private window)', 'Ctrl+Shift+t': 'the browser (reopen a closed tab)',
  'Ctrl+Tab': 'the browser (next tab)', 'Ctrl+Shift+Tab': 'the browser (previous tab)', 'Ctrl+q': 'the browser (quit)',
  'Ctrl+l': 'the browser (address bar)', 'Ctrl+r': 'the browser (reload)', F5: 'the browser (reload)',
  F11: 'the browser (full screen)', F12: 'the browser (developer tools)',
};

interface KeyLike { key: string; code?: string; ctrlKey?: boolean; metaKey?: boolean; altKey?: boolean;
                    shiftKey?: boolean }

/** A key press as a binding name ('3', 'q', 'Shift+3', 'Ctrl+z', 'ArrowLeft', '?'): digits and letters by their
 * physical key, so Shift+1 is not '!'; punctuation as typed. Null for a modifier pressed alone. */
export function bindingOf(e: KeyLike): string | null {
  let base: string | null = null;
  let shiftable = true;
  if (e.code && /^Digit[0-9]$/.test(e.code)) base = e.code.slice(5);
  else if (e.code && /^Key[A-Z]$/.test(e.code)) base = e.code.slice(3).toLowerCase();
  else if (e.key === ' ') base = 'Space';
  else if (NAMED.has(e.key)) base = e.key;
  else if (/^[0-9a-zA-Z]$/.test(e.key)) base = e.key.toLowerCase();
  else if (PUNCTUATION.test(e.key)) { base = e.key; shiftable = false; }
  if (base === null) return null;
  return `${e.ctrlKey || e.metaKey ? 'Ctrl+' : ''}${e.altKey ? 'Alt+' : ''}${e.shiftKey && shiftable ? 'Shift+' : ''}${base}`;
}

const SHOWN: Record<string, string> = { ArrowLeft: '←', ArrowRight: '→', ArrowUp: '↑', ArrowDown: '↓', Escape: 'Esc',
                                        Backspace: '⌫', Delete: 'Del' };

/** How a binding is shown on a key cap: 'Shift+q' -> '⇧Q', 'Ctrl+z' -> 'Ctrl+Z', 'ArrowLeft' -> '←'. */
export function keyLabel(binding: string): string {
  const m = /^((?:Ctrl\+)?(?:Alt\+)?(?:Shift\+)?)(.+)$/.exec(binding);
  if (!m) return binding;
  const base = SHOWN[m[2]] ?? (m[2].length === 1 ? m[2].toUpperCase() : m[2]);
  return m[1].replace('Shift+', '⇧') + base;
}

/** An action's keys as shown: 'Del / ⌫', or '—' for none. */
export function keysLabel(keys: string[] | undefined): string {
  return keys?.length ? keys.map(keyLabel).join(' / ') : '—';
}

/** The default key of the class at `index`: 1–9, then Shift+1–9; none past 18 (unless remapped). */
export function defaultClassKey(index: number): string {
  if (index < 9) return String(index + 1);
  if (index < 18) return `Shift+${index - 8}`;
  return '';
}

export function scopeOf(who: KeyAction): Scope {
  return typeof who === 'string' ? ACTIONS.find((a) => a.action === who)?.scope ?? 'any' : 'any';
}

/** Whether two holders can be asked for at the same moment (and so may not share a key): nudges act only with
 * boxes selected, previous / next image only without, so the arrows serve both. */
export function meet(a: KeyAction, b: KeyAction): boolean {
  const s = new Set([scopeOf(a), scopeOf(b)]);
  return !(s.has('selection') && s.has('noSelection'));
}

/** Who holds which keys, per holder. */
export type Held = Map<KeyAction, string[]>;

function defaults(classes: string[]): Held {
  const held: Held = new Map();
  classes.forEach((_, i) => held.set(i, defaultClassKey(i) ? [defaultClassKey(i)] : []));
  held.set('none', [DEFAULT_NONE_KEY]);
  for (const a of ACTIONS) held.set(a.action, [...a.keys]);
  return held;
}

/** Gives `keys` to `who`, taking each from any holder that could be asked for at the same moment. */
export function give(held: Held, who: KeyAction, keys: string[]): void {
  for (const [other, ks] of held) {
    if (other !== who && meet(other, who) && ks.some((k) => keys.includes(k))) {
      held.set(other, ks.filter((k) => !keys.includes(k)));
    }
  }
  held.set(who, keys);
}

/** Layers applied in order (the owner's, then the user's): a later layer's key wins, and takes the key away from
 * whatever an earlier layer gave it to. Names no longer in the project and malformed keys are ignored. */
export function resolveHeld(classes: string[], layers: (KeyMap | null | undefined)[]): Held {
  const held = defaults(classes);
  const known = new Set(ACTIONS.map((a) => a.action));
  for (const layer of layers) {
    if (!layer) continue;
    for (const [name, key] of Object.entries(layer.classes ?? {})) {
      const i = classes.indexOf(name);
      if (i >= 0 && (!key || isKey(key))) give(held, i, key ? [key] : []);
    }
    if (layer.none !== undefined && layer.none !== null && (layer.none === '' || isKey(layer.none))) {
      give(held, 'none', layer.none ? [layer.none] : []);
    }
    for (const [action, keys] of Object.entries(layer.actions ?? {})) {
      if (known.has(action) && keys.every(isKey)) give(held, action, [...keys]);
    }
  }
  return held;
}

export function bindingsOf(classes: string[], held: Held): Bindings {
  const byKey = new Map<string, KeyAction[]>();
  for (const [who, keys] of held) for (const k of keys) byKey.set(k, [...(byKey.get(k) ?? []), who]);
  return {
    byKey,
    classKeys: classes.map((_, i) => held.get(i)?.[0] ?? ''),
    noneKey: held.get('none')?.[0] ?? '',
    actionKeys: Object.fromEntries(ACTIONS.map((a) => [a.action, held.get(a.action) ?? []])),
  };
}

export function resolveBindings(classes: string[], layers: (KeyMap | null | undefined)[]): Bindings {
  return bindingsOf(classes, resolveHeld(classes, layers));
}

/** The defaults only. */
export function defaultBindings(classes: string[]): Bindings {
  return resolveBindings(classes, []);
}

/** The holder a key press means now: with boxes selected a nudge wins over previous / next image, and the other
 * way round. */
export function holderOf(b: Bindings, key: string | null, boxSelected: boolean): KeyAction | undefined {
  const holders = key === null ? undefined : b.byKey.get(key);
  return holders?.find((h) => scopeOf(h) !== (boxSelected ? 'noSelection' : 'selection'));
}

/** The key map that turns `base` (the layers below) into `held` (what the key editor saves): only holders whose keys
 * differ from `base` are written, so a later change below still reaches whatever nobody remapped here. */
export function keyMapOf(classes: string[], held: Held, base: Held): KeyMap {
  const same = (a: string[] = [], b: string[] = []) => a.length === b.length && a.every((k, i) => k === b[i]);
  const map: KeyMap = { classes: {} };
  classes.forEach((name, i) => { if (!same(held.get(i), base.get(i))) map.classes[name] = held.get(i)?.[0] ?? ''; });
  if (!same(held.get('none'), base.get('none'))) map.none = held.get('none')?.[0] ?? '';
  for (const a of ACTIONS) {
    if (!same(held.get(a.action), base.get(a.action))) (map.actions ??= {})[a.action] = [...(held.get(a.action) ?? [])];
  }
  return map;
}

/** What is said about a holder in messages and the key editor. */
export function describe(who: KeyAction, classes: string[]): string {
  if (typeof who === 'number') return `class “${classes[who] ?? who}”`;
  if (who === 'none') return '“none of these / no objects”';
  return ACTIONS.find((a) => a.action === who)?.what.split(' (')[0] ?? who;
}
