// Adjudication: a labeller's colour (distinct from the class colours: a labeller, not a class, is what differs
// between the submissions shown together) and when two labels are the same item.

export type Item = { label: string; kind: string; box: { x: number; y: number; w: number; h: number } | null };

const LABELLERS = ['#e6194b', '#3cb4ff', '#ffe119', '#3cb44b', '#f58231', '#b86bff', '#46f0f0', '#f032e6', '#bcf60c'];

export function labellerColor(index: number): string {
  return LABELLERS[((index % LABELLERS.length) + LABELLERS.length) % LABELLERS.length];
}

/** The same label, and for boxes the same box (to a ten-thousandth of the image). */
export function sameItem(a: Item, b: Item): boolean {
  if (a.label !== b.label || a.kind !== b.kind) return false;
  if (!a.box || !b.box) return !a.box && !b.box;
  const close = (p: number, q: number) => Math.abs(p - q) < 1e-4;
  return close(a.box.x, b.box.x) && close(a.box.y, b.box.y) && close(a.box.w, b.box.w) && close(a.box.h, b.box.h);
}
