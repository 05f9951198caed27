// Grid selection as a pure function of clicks: a click toggles one tile, a shift-click selects the range from the
// last clicked tile, "select page" takes every loaded tile.

export interface Selection { ids: Set<string>; anchor: number | null }

export const empty = (): Selection => ({ ids: new Set(), anchor: null });

export function click(sel: Selection, order: string[], index: number, shift: boolean): Selection {
  const ids = new Set(sel.ids);
  if (shift && sel.anchor !== null) {
    const [a, b] = sel.anchor < index ? [sel.anchor, index] : [index, sel.anchor];
    for (let i = a; i <= b; i++) ids.add(order[i]);
    return { ids, anchor: index };
  }
  if (ids.has(order[index])) ids.delete(order[index]);
  else ids.add(order[index]);
  return { ids, anchor: index };
}

export function selectAll(order: string[]): Selection {
  return { ids: new Set(order), anchor: null };
}
