// Pure operations on an ordered class list (the order gives hotkeys, colours and export ids).

export function addClass(list: string[], name: string): { list: string[]; error?: string } {
  const clean = name.trim();
  if (!clean) return { list, error: 'A class needs a name.' };
  if (list.includes(clean)) return { list, error: `"${clean}" is already in the list.` };
  return { list: [...list, clean] };
}

export function removeClass(list: string[], index: number): string[] {
  return list.filter((_, i) => i !== index);
}

export function moveClass(list: string[], index: number, delta: number): string[] {
  const to = index + delta;
  if (index < 0 || index >= list.length || to < 0 || to >= list.length) return list;
  const out = [...list];
  [out[index], out[to]] = [out[to], out[index]];
  return out;
}

/** The class list live stats report (perClass: every class, in order), when it differs from the one shown: an owner
 *  renamed, added, removed or reordered classes. Null when nothing changed. */
export function changedClasses(shown: string[], perClass: { label: string }[]): string[] | null {
  const names = perClass.map((c) => c.label);
  return names.length && names.join('\n') !== shown.join('\n') ? names : null;
}
