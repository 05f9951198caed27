// Boxes in normalised image coordinates (0..1), and the pure geometry on them: clamping, drawing from two
// corners, moving, resizing by a handle, nudging. Every function returns a new box and never leaves the image.

import type { Point } from './view';

export interface Rect { x: number; y: number; w: number; h: number }

export interface Ann extends Rect {
  key: string; // a client-side identity, stable across edits (selection, undo)
  label: string;
  draft?: boolean;
  confidence?: number | null;
}

export type Handle = 'nw' | 'n' | 'ne' | 'e' | 'se' | 's' | 'sw' | 'w';
export const HANDLES: Handle[] = ['nw', 'n', 'ne', 'e', 'se', 's', 'sw', 'w'];

let counter = 0;
export function newKey(): string {
  counter += 1;
  return `b${Date.now().toString(36)}${counter}`;
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

/** The box moved and, if needed, shrunk so it lies inside the image. */
export function clampRect<T extends Rect>(r: T): T {
  const w = Math.min(1, Math.max(0, r.w));
  const h = Math.min(1, Math.max(0, r.h));
  return { ...r, x: Math.min(1 - w, clamp01(r.x)), y: Math.min(1 - h, clamp01(r.y)), w, h };
}

/** The rectangle spanned by two corners, clipped to the image. */
export function rectFromPoints(a: Point, b: Point): Rect {
  const x0 = clamp01(Math.min(a.x, b.x)), x1 = clamp01(Math.max(a.x, b.x));
  const y0 = clamp01(Math.min(a.y, b.y)), y1 = clamp01(Math.max(a.y, b.y));
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

/** Moved by (dx, dy), kept whole inside the image (it stops at the edge rather than shrinking). */
export function moveRect<T extends Rect>(r: T, dx: number, dy: number): T {
  return { ...r, x: Math.min(1 - r.w, Math.max(0, r.x + dx)), y: Math.min(1 - r.h, Math.max(0, r.y + dy)) };
}

/** The box with the edges that `handle` owns dragged to p; dragging past the opposite edge flips it. */
export function resizeRect<T extends Rect>(r: T, handle: Handle, p: Point): T {
  let x0 = r.x, y0 = r.y, x1 = r.x + r.w, y1 = r.y + r.h;
  const px = clamp01(p.x), py = clamp01(p.y);
  if (handle.includes('w')) x0 = px;
  if (handle.includes('e')) x1 = px;
  if (handle.includes('n')) y0 = py;
  if (handle.includes('s')) y1 = py;
  return { ...r, x: Math.min(x0, x1), y: Math.min(y0, y1), w: Math.abs(x1 - x0), h: Math.abs(y1 - y0) };
}

/** Where each handle sits, in the same units as the rect. */
export function handlePoint(r: Rect, h: Handle): Point {
  const x = h.includes('w') ? r.x : h.includes('e') ? r.x + r.w : r.x + r.w / 2;
  const y = h.includes('n') ? r.y : h.includes('s') ? r.y + r.h : r.y + r.h / 2;
  return { x, y };
}

export function cursorFor(h: Handle): string {
  return { nw: 'nwse-resize', se: 'nwse-resize', ne: 'nesw-resize', sw: 'nesw-resize', n: 'ns-resize',
           s: 'ns-resize', e: 'ew-resize', w: 'ew-resize' }[h];
}

/** Boxes as the API wants them, with the client-only fields dropped. */
export function toInput(boxes: Ann[]): { label: string; kind: 'BBOX'; box: Rect }[] {
  return boxes.map((b) => ({ label: b.label, kind: 'BBOX', box: { x: b.x, y: b.y, w: b.w, h: b.h } }));
}

/** Copies for pasting: fresh keys, not drafts. */
export function copies(boxes: Ann[]): Ann[] {
  return boxes.map((b) => ({ ...clampRect(b), key: newKey(), draft: false, confidence: null }));
}
