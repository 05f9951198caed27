// Hit testing in screen space (CSS px), so handles are equally easy to grab at any zoom.

import { HANDLES, handlePoint, type Ann, type Handle, type Rect } from './boxes';
import { toScreen, type Point, type View } from './view';

export type Hit = { key: string; part: 'body' | 'grip' | Handle } | null;

export const HANDLE_TOLERANCE = 7; // CSS px around a handle's centre
export const EDGE_TOLERANCE = 4; // a click this close outside a box still takes it
export const GRIP_MIN_PX = 28; // the move grip shows on a selected box at least this big on screen

/** The move grip of a box on screen (its centre), or null when the box is too small to spare the room. */
export function gripPoint(s: Rect): Point | null {
  return s.w >= GRIP_MIN_PX && s.h >= GRIP_MIN_PX ? { x: s.x + s.w / 2, y: s.y + s.h / 2 } : null;
}

/** A normalised rect to screen coordinates for an image of imageW x imageH pixels. */
export function screenRect(v: View, r: Rect, imageW: number, imageH: number): Rect {
  const a = toScreen(v, { x: r.x * imageW, y: r.y * imageH });
  return { x: a.x, y: a.y, w: r.w * imageW * v.scale, h: r.h * imageH * v.scale };
}

/**
 * What is under the pointer: first the handles and move grip of the single selected box (`selectedKey`), then the
 * smallest box containing the point (so a small box inside a big one can still be picked).
 */
export function hitTest(boxes: Ann[], v: View, imageW: number, imageH: number, p: Point,
                        selectedKey: string | null): Hit {
  const selected = selectedKey ? boxes.find((b) => b.key === selectedKey) : undefined;
  if (selected) {
    const s = screenRect(v, selected, imageW, imageH);
    for (const h of HANDLES) {
      const hp = handlePoint(s, h);
      if (Math.abs(hp.x - p.x) <= HANDLE_TOLERANCE && Math.abs(hp.y - p.y) <= HANDLE_TOLERANCE) {
        return { key: selected.key, part: h };
      }
    }
    const g = gripPoint(s);
    if (g && Math.abs(g.x - p.x) <= HANDLE_TOLERANCE && Math.abs(g.y - p.y) <= HANDLE_TOLERANCE) {
      return { key: selected.key, part: 'grip' };
    }
  }
  let best: Ann | null = null;
  let bestArea = Infinity;
  for (const b of boxes) {
    const s = screenRect(v, b, imageW, imageH);
    if (p.x >= s.x - EDGE_TOLERANCE && p.x <= s.x + s.w + EDGE_TOLERANCE &&
        p.y >= s.y - EDGE_TOLERANCE && p.y <= s.y + s.h + EDGE_TOLERANCE) {
      const area = s.w * s.h + (b.key === selectedKey ? -1e-6 : 0); // ties go to the selected box
      if (area < bestArea) { best = b; bestArea = area; }
    }
  }
  return best ? { key: best.key, part: 'body' } : null;
}
