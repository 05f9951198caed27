// The pointer as a state machine. The drawing convention (README, "Drawing boxes"): a plain drag draws a new box
// wherever it starts, inside another box too; a plain click selects the box under it (or, on empty image with
// nothing selected, places the first corner of a click–click box); Shift/Ctrl+click adds or removes a box from the
// selection and Shift/Ctrl+drag selects with a rubber band; boxes move only by Alt+drag or by the selected box's
// centre grip, and resize by its handles. Each gesture edits the BoxEditor once, on release: one undo step.

import { rectFromPoints, resizeRect, cursorFor, type Ann, type Handle, type Rect } from './boxes';
import type { BoxEditor } from './editor';
import { hitTest } from './hit';
import { pan, toImage, type Point, type View } from './view';

export const MIN_BOX_PX = 4; // on screen: anything smaller is a stray click, not a box

export interface Modifiers { shift?: boolean; ctrl?: boolean; alt?: boolean }

export interface ToolHost {
  view: View;
  imageW: number;
  imageH: number;
  drawLabel: string | null; // the class of new boxes; null: drawing is off (classification, or no class)
  spaceHeld: boolean;
  setView(v: View): void;
}

export type Gesture =
  | { kind: 'idle' }
  | { kind: 'press'; start: Point; end: Point; hitKey: string | null; hadSelection: boolean } // a drag draws
  | { kind: 'corner'; start: Point; end: Point } // click–click: the first corner is placed, the pointer is free
  | { kind: 'second'; start: Point; end: Point } // click–click: the button is down on the second corner
  | { kind: 'band'; start: Point; end: Point; hitKey: string | null }
  | { kind: 'move'; keys: string[]; from: Point; dx: number; dy: number }
  | { kind: 'resize'; key: string; handle: Handle; orig: Ann; to: Rect }
  | { kind: 'pan'; from: Point; origin: View };

export class PointerTool {
  gesture: Gesture = { kind: 'idle' };

  constructor(private readonly editor: BoxEditor, private readonly host: ToolHost) {}

  /** A CSS-px point to normalised image coordinates. */
  private norm(p: Point): Point {
    const q = toImage(this.host.view, p);
    return { x: q.x / this.host.imageW, y: q.y / this.host.imageH };
  }

  private hit(p: Point) {
    const h = this.host;
    return this.editor.hidden ? null : hitTest(this.editor.boxes, h.view, h.imageW, h.imageH, p, this.editor.single);
  }

  down(p: Point, button = 0, mods: Modifiers = {}): void {
    const h = this.host;
    if (button === 1 || button === 2 || h.spaceHeld) {
      this.gesture = { kind: 'pan', from: p, origin: h.view };
      return;
    }
    if (button !== 0) return;
    const q = this.norm(p);
    const g = this.gesture;
    if (g.kind === 'corner') {
      this.gesture = { kind: 'second', start: g.start, end: q };
      return;
    }
    const hit = this.hit(p);
    const e = this.editor;
    if (hit && hit.part !== 'body' && hit.part !== 'grip') {
      const box = e.boxes.find((b) => b.key === hit.key)!;
      this.gesture = { kind: 'resize', key: hit.key, handle: hit.part, orig: box, to: box };
    } else if (hit && (hit.part === 'grip' || mods.alt)) {
      if (!e.isSelected(hit.key)) e.select(hit.key);
      this.gesture = { kind: 'move', keys: [...e.selection], from: q, dx: 0, dy: 0 };
    } else if (mods.shift || mods.ctrl) {
      this.gesture = { kind: 'band', start: q, end: q, hitKey: hit?.key ?? null };
    } else {
      this.gesture = { kind: 'press', start: q, end: q, hitKey: hit?.key ?? null, hadSelection: e.selection.length > 0 };
    }
  }

  move(p: Point): void {
    const g = this.gesture;
    if (g.kind === 'pan') {
      this.host.setView(pan(g.origin, p.x - g.from.x, p.y - g.from.y));
    } else if (g.kind === 'press' || g.kind === 'corner' || g.kind === 'second' || g.kind === 'band') {
      g.end = this.norm(p);
    } else if (g.kind === 'move') {
      const q = this.norm(p);
      [g.dx, g.dy] = this.groupOffset(g.keys, q.x - g.from.x, q.y - g.from.y);
    } else if (g.kind === 'resize') {
      g.to = resizeRect(g.orig, g.handle, this.norm(p));
    }
  }

  /** The offset clamped so the whole group stays inside the image and keeps its shape. */
  private groupOffset(keys: string[], dx: number, dy: number): [number, number] {
    const set = new Set(keys);
    const group = this.editor.boxes.filter((b) => set.has(b.key));
    if (!group.length) return [0, 0];
    const x0 = Math.min(...group.map((b) => b.x)), x1 = Math.max(...group.map((b) => b.x + b.w));
    const y0 = Math.min(...group.map((b) => b.y)), y1 = Math.max(...group.map((b) => b.y + b.h));
    return [Math.min(1 - x1, Math.max(-x0, dx)), Math.min(1 - y1, Math.max(-y0, dy))];
  }

  up(p: Point): void {
    this.move(p);
    const g = this.gesture;
    const e = this.editor;
    const label = this.host.drawLabel;
    this.gesture = { kind: 'idle' };
    if (g.kind === 'press') {
      const r = rectFromPoints(g.start, g.end);
      if (this.bigEnough(r) && label !== null) e.add(r, label);
      else if (this.bigEnough(r)) return; // a drag with drawing off does nothing
      else if (g.hitKey) e.select(g.hitKey);
      else if (g.hadSelection || label === null) e.select(null);
      else this.gesture = { kind: 'corner', start: g.start, end: g.end };
    } else if (g.kind === 'second') {
      const r = rectFromPoints(g.start, g.end);
      if (this.bigEnough(r) && label !== null) e.add(r, label); // a second click on the first corner cancels
    } else if (g.kind === 'band') {
      const r = rectFromPoints(g.start, g.end);
      if (this.bigEnough(r)) e.selectInside(r, true);
      else if (g.hitKey) e.toggle(g.hitKey);
    } else if (g.kind === 'move') {
      if (g.dx || g.dy) e.moveMany(g.keys, g.dx, g.dy);
    } else if (g.kind === 'resize' && this.bigEnough(g.to)) {
      e.reshape(g.key, g.to);
    }
  }

  /** Esc: drops a gesture in progress (a placed first corner, say). True if there was one. */
  cancel(): boolean {
    const had = this.gesture.kind !== 'idle';
    this.gesture = { kind: 'idle' };
    return had;
  }

  private bigEnough(r: Rect): boolean {
    const s = this.host.view.scale;
    return r.w * this.host.imageW * s >= MIN_BOX_PX && r.h * this.host.imageH * s >= MIN_BOX_PX;
  }

  /** The boxes as they look mid-gesture (moved or resized boxes in their new place), for rendering. */
  preview(): Ann[] {
    const g = this.gesture;
    if (g.kind === 'move') {
      const set = new Set(g.keys);
      return this.editor.boxes.map((b) => (set.has(b.key) ? { ...b, x: b.x + g.dx, y: b.y + g.dy } : b));
    }
    if (g.kind === 'resize') return this.editor.boxes.map((b) => (b.key === g.key ? { ...b, ...g.to } : b));
    return this.editor.boxes;
  }

  /** The rectangle being drawn, if any (normalised): a drag once it is big enough, or a click–click box. */
  drawing(): Rect | null {
    const g = this.gesture;
    if (this.host.drawLabel === null) return null;
    if (g.kind === 'corner' || g.kind === 'second') return rectFromPoints(g.start, g.end);
    if (g.kind === 'press') {
      const r = rectFromPoints(g.start, g.end);
      return this.bigEnough(r) ? r : null;
    }
    return null;
  }

  /** The rubber band, if one is being dragged (normalised). */
  band(): Rect | null {
    return this.gesture.kind === 'band' ? rectFromPoints(this.gesture.start, this.gesture.end) : null;
  }

  /** The first corner of a click–click box, while it waits for the second. */
  corner(): Point | null {
    const g = this.gesture;
    return g.kind === 'corner' || g.kind === 'second' ? g.start : null;
  }

  cursor(p: Point, mods: Modifiers = {}): string {
    const g = this.gesture;
    if (g.kind === 'pan' || this.host.spaceHeld) return g.kind === 'pan' ? 'grabbing' : 'grab';
    if (g.kind === 'move') return 'move';
    if (g.kind === 'resize') return cursorFor(g.handle);
    if (g.kind === 'corner' || g.kind === 'second') return 'crosshair';
    const hit = this.hit(p);
    if (hit && hit.part !== 'body') return hit.part === 'grip' ? 'move' : cursorFor(hit.part);
    if (hit && mods.alt) return 'move';
    if (mods.shift || mods.ctrl) return hit ? 'copy' : 'cell';
    return this.host.drawLabel !== null ? 'crosshair' : hit ? 'pointer' : 'default';
  }
}
