// Which key picks which class, and which key says "none of these / no objects": the defaults (1–9, then Shift+1–9,
// and E), overridden by the project owner's map, overridden by the user's own. A key map names classes, not
// positions, so reordering the classes keeps a remapped key on its class.

export type KeyAction = number | 'none'; // a class index, or "none of these / no objects"

/** A key map as stored (project default or a user's override): class name -> key, and the "none" key. */
export interface KeyMap { classes: Record<string, string>; none?: string | null }

export interface Bindings {
  byKey: Map<string, KeyAction>;
  classKeys: string[]; // per class index: its key, or '' when it has none
  noneKey: string;
}

export const DEFAULT_NONE_KEY = 'e';

/** Keys a class or the "none" action may take: a digit or a letter, with Shift or without. */
export const BINDING = /^(Shift\+)?[0-9a-z]$/;

interface KeyLike { key: string; code?: string; ctrlKey?: boolean; metaKey?: boolean; altKey?: boolean;
                    shiftKey?: boolean }

/** A key press as a binding name ('3', 'q', 'Shift+3'), by its physical key so Shift+1 is not '!'; null for keys
 * no binding can take (with Ctrl, Alt or Meta, or anything but digits and letters). */
export function bindingOf(e: KeyLike): string | null {
  if (e.ctrlKey || e.metaKey || e.altKey) return null;
  let base: string | null = null;
  if (e.code && /^Digit[0-9]$/.test(e.code)) base = e.code.slice(5);
  else if (e.code && /^Key[A-Z]$/.test(e.code)) base = e.code.slice(3).toLowerCase();
  else if (/^[0-9a-zA-Z]$/.test(e.key)) base = e.key.toLowerCase();
  if (base === null) return null;
  return e.shiftKey ? `Shift+${base}` : base;
}

/** How a binding is shown on a key cap: 'Shift+q' -> '⇧Q'. */
export function keyLabel(binding: string): string {
  return binding.replace('Shift+', '⇧').toUpperCase();
}

/** The default key of the class at `index`: 1–9, then Shift+1–9; none past 18 (unless remapped). */
export function defaultClassKey(index: number): string {
  if (index < 9) return String(index + 1);
  if (index < 18) return `Shift+${index - 8}`;
  return '';
}

/** The defaults only. */
export function defaultBindings(classes: string[]): Bindings {
  return resolveBindings(classes, []);
}

/** Layers applied in order (the owner's, then the user's): a later layer's key wins, and takes the key away from
 * whatever an earlier layer gave it to. Class names no longer in the project are ignored. */
export function resolveBindings(classes: string[], layers: (KeyMap | null | undefined)[]): Bindings {
  const classKeys = classes.map((_, i) => defaultClassKey(i));
  let noneKey = DEFAULT_NONE_KEY;
  for (const layer of layers) {
    if (!layer) continue;
    const take = (key: string) => {
      for (let i = 0; i < classKeys.length; i++) if (classKeys[i] === key) classKeys[i] = '';
      if (noneKey === key) noneKey = '';
    };
    for (const [name, key] of Object.entries(layer.classes ?? {})) {
      const i = classes.indexOf(name);
      if (i < 0 || (key && !BINDING.test(key))) continue;
      if (key) take(key);
      classKeys[i] = key;
    }
    if (layer.none !== undefined && layer.none !== null && (layer.none === '' || BINDING.test(layer.none))) {
      if (layer.none) take(layer.none);
      noneKey = layer.none;
    }
  }
  const byKey = new Map<string, KeyAction>();
  classKeys.forEach((k, i) => { if (k) byKey.set(k, i); });
  if (noneKey) byKey.set(noneKey, 'none');
  return { byKey, classKeys, noneKey };
}

/** The key map that turns `base` (the layers below) into these bindings (what the key editor saves): only keys
 * that differ from `base` are written, so a later change below still reaches the classes nobody remapped here. */
export function keyMapOf(classes: string[], classKeys: string[], noneKey: string, base: Bindings): KeyMap {
  const map: KeyMap = { classes: {} };
  classes.forEach((name, i) => {
    if ((classKeys[i] ?? '') !== base.classKeys[i]) map.classes[name] = classKeys[i] ?? '';
  });
  if (noneKey !== base.noneKey) map.none = noneKey;
  return map;
}
