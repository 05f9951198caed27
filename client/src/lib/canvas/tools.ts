// The pointer as a state machine: idle -> draw | move | resize | pan -> idle. Positions come in CSS px relative
// to the canvas; the gesture edits the BoxEditor once, on release, so each gesture is one undo step.

import { moveRect, rectFromPoints, resizeRect, cursorFor, type Ann, type Handle, type Rect } from './boxes';
import type { BoxEditor } from './editor';
import { hitTest } from './hit';
import { pan, toImage, type Point, type View } from './view';

export const MIN_BOX_PX = 4; // on screen: anything smaller is a stray click, not a box

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
  | { kind: 'draw'; start: Point; end: Point }
  | { kind: 'move'; key: string; from: Point; orig: Ann; to: Rect }
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

  down(p: Point, button = 0): void {
    const h = this.host;
    if (button === 1 || button === 2 || h.spaceHeld) {
      this.gesture = { kind: 'pan', from: p, origin: h.view };
      return;
    }
    if (button !== 0) return;
    const hit = this.editor.hidden ? null
      : hitTest(this.editor.boxes, h.view, h.imageW, h.imageH, p, this.editor.selected);
    if (hit) {
      const box = this.editor.boxes.find((b) => b.key === hit.key)!;
      this.editor.select(hit.key);
      this.gesture = hit.part === 'body'
        ? { kind: 'move', key: hit.key, from: this.norm(p), orig: box, to: box }
        : { kind: 'resize', key: hit.key, handle: hit.part, orig: box, to: box };
      return;
    }
    this.editor.select(null);
    if (h.drawLabel !== null) {
      const start = this.norm(p);
      this.gesture = { kind: 'draw', start, end: start };
    }
  }

  move(p: Point): void {
    const g = this.gesture;
    if (g.kind === 'pan') {
      this.host.setView(pan(g.origin, p.x - g.from.x, p.y - g.from.y));
    } else if (g.kind === 'draw') {
      g.end = this.norm(p);
    } else if (g.kind === 'move') {
      const q = this.norm(p);
      g.to = moveRect(g.orig, q.x - g.from.x, q.y - g.from.y);
    } else if (g.kind === 'resize') {
      g.to = resizeRect(g.orig, g.handle, this.norm(p));
    }
  }

  up(p: Point): void {
    this.move(p);
    const g = this.gesture;
    this.gesture = { kind: 'idle' };
    if (g.kind === 'draw') {
      const r = rectFromPoints(g.start, g.end);
      if (this.bigEnough(r) && this.host.drawLabel !== null) this.editor.add(r, this.host.drawLabel);
    } else if ((g.kind === 'move' || g.kind === 'resize') && this.bigEnough(g.to)) {
      this.editor.reshape(g.key, g.to);
    }
  }

  cancel(): void {
    this.gesture = { kind: 'idle' };
  }

  private bigEnough(r: Rect): boolean {
    const s = this.host.view.scale;
    return r.w * this.host.imageW * s >= MIN_BOX_PX && r.h * this.host.imageH * s >= MIN_BOX_PX;
  }

  /** The boxes as they look mid-gesture (the moved/resized box in its new place), for rendering. */
  preview(): Ann[] {
    const g = this.gesture;
    if (g.kind === 'move' || g.kind === 'resize') {
      return this.editor.boxes.map((b) => (b.key === g.key ? { ...b, ...g.to } : b));
    }
    return this.editor.boxes;
  }

  /** The rectangle being drawn, if any (normalised). */
  drawing(): Rect | null {
    return this.gesture.kind === 'draw' ? rectFromPoints(this.gesture.start, this.gesture.end) : null;
  }

  cursor(p: Point): string {
    const g = this.gesture;
    if (g.kind === 'pan' || this.host.spaceHeld) return g.kind === 'pan' ? 'grabbing' : 'grab';
    if (g.kind === 'move') return 'move';
    if (g.kind === 'resize') return cursorFor(g.handle);
    const h = this.host;
    const hit = this.editor.hidden ? null
      : hitTest(this.editor.boxes, h.view, h.imageW, h.imageH, p, this.editor.selected);
    if (hit) return hit.part === 'body' ? 'move' : cursorFor(hit.part);
    return h.drawLabel !== null ? 'crosshair' : 'default';
  }
}
