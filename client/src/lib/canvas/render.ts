// Painting one frame: the image under the view transform, then boxes, tags, handles, the box being drawn and the
// crosshair guides in screen space (constant line widths at any zoom). Pure function of its inputs.

import { HANDLES, handlePoint, type Ann, type Rect } from './boxes';
import { gripPoint, screenRect } from './hit';
import type { Point, View } from './view';

export interface Scene {
  cssW: number;
  cssH: number;
  view: View;
  image: CanvasImageSource | null;
  imageW: number;
  imageH: number;
  boxes: Ann[];
  selection: string[]; // selected keys: all are highlighted; a single one shows its handles and move grip
  hidden: boolean;
  drawing: Rect | null;
  band: Rect | null; // the rubber band of a Shift/Ctrl+drag (normalised)
  corner: Point | null; // the first corner of a click-click box (normalised)
  brightness: number; // 1 = as stored
  contrast: number;
  drawColor: string;
  pointer: Point | null; // CSS px, for the crosshair guides; null when the pointer is away or drawing is off
  color: (label: string) => string;
}

const TAG_FONT = '600 11px system-ui, sans-serif';
const HANDLE = 7;

/** The part of a frame that only changes with the image, the view, the canvas size or the adjustments: kept in a
 * layer of its own, so a frame where only boxes change copies it 1:1 instead of scaling the photo again. */
export class Backdrop {
  private layer: HTMLCanvasElement | null = null;
  private key: unknown[] = [];

  /** Paints the backdrop onto `ctx` (redrawn into the layer first when its inputs changed). */
  draw(ctx: CanvasRenderingContext2D, s: Scene): void {
    const w = ctx.canvas.width, h = ctx.canvas.height;
    const key = [s.image, s.view.scale, s.view.tx, s.view.ty, s.view.dpr, w, h, s.brightness, s.contrast, s.imageW,
                 s.imageH];
    if (typeof document === 'undefined') { paintImage(ctx, s); return; }
    if (!this.layer || this.layer.width !== w || this.layer.height !== h) {
      this.layer = document.createElement('canvas');
      this.layer.width = w;
      this.layer.height = h;
      this.key = [];
    }
    if (key.some((k, i) => k !== this.key[i])) { // painted here, then kept: a photo drawn into the layer itself
      paintImage(ctx, s);                            // would be decoded again
      const lctx = this.layer.getContext('2d');
      if (lctx) {
        lctx.setTransform(1, 0, 0, 1, 0, 0);
        lctx.drawImage(ctx.canvas, 0, 0);
        this.key = key;
      }
      return;
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.layer, 0, 0);
  }
}

/** The background and the image under the view transform, with brightness and contrast applied. */
function paintImage(ctx: CanvasRenderingContext2D, s: Scene): void {
  const { view: v } = s;
  ctx.setTransform(v.dpr, 0, 0, v.dpr, 0, 0);
  ctx.fillStyle = '#101317';
  ctx.fillRect(0, 0, s.cssW, s.cssH);
  if (s.image) {
    ctx.setTransform(v.dpr * v.scale, 0, 0, v.dpr * v.scale, v.dpr * v.tx, v.dpr * v.ty);
    ctx.imageSmoothingEnabled = v.scale < 2;
    const adjusted = s.brightness !== 1 || s.contrast !== 1;
    if (adjusted) ctx.filter = `brightness(${s.brightness}) contrast(${s.contrast})`;
    ctx.drawImage(s.image, 0, 0, s.imageW, s.imageH);
    if (adjusted) ctx.filter = 'none';
  }
}

export function render(ctx: CanvasRenderingContext2D, s: Scene, backdrop: Backdrop | null = null): void {
  const { view: v } = s;
  if (backdrop) backdrop.draw(ctx, s);
  else paintImage(ctx, s);
  ctx.setTransform(v.dpr, 0, 0, v.dpr, 0, 0);
  if (!s.hidden) drawBoxes(ctx, s);
  if (s.drawing) {
    const r = screenRect(v, s.drawing, s.imageW, s.imageH);
    ctx.strokeStyle = s.drawColor;
    ctx.lineWidth = 2;
    ctx.setLineDash([]);
    ctx.strokeRect(r.x, r.y, r.w, r.h);
  }
  if (s.corner) {
    const c = screenRect(v, { ...s.corner, w: 0, h: 0 }, s.imageW, s.imageH);
    ctx.fillStyle = s.drawColor;
    ctx.beginPath();
    ctx.arc(c.x, c.y, 4, 0, 2 * Math.PI);
    ctx.fill();
  }
  if (s.band) {
    const r = screenRect(v, s.band, s.imageW, s.imageH);
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 1;
    ctx.setLineDash([5, 3]);
    ctx.strokeRect(r.x + 0.5, r.y + 0.5, r.w, r.h);
    ctx.setLineDash([]);
  }
  if (s.pointer) drawGuides(ctx, s, s.pointer);
}

function drawBoxes(ctx: CanvasRenderingContext2D, s: Scene): void {
  const { view: v } = s;
  ctx.font = TAG_FONT;
  ctx.textBaseline = 'top';
  const many = s.boxes.length > 200; // tags only for selected boxes when crowded: keeps big scenes fast
  const chosen = new Set(s.selection);
  const picked: { r: Rect; b: Ann }[] = [];
  for (const b of s.boxes) {
    const r = screenRect(v, b, s.imageW, s.imageH);
    if (r.x > s.cssW || r.y > s.cssH || r.x + r.w < 0 || r.y + r.h < 0) continue;
    const c = s.color(b.label);
    ctx.strokeStyle = c;
    ctx.lineWidth = chosen.has(b.key) ? 2.5 : 1.5;
    ctx.setLineDash(b.draft ? [6, 4] : []);
    ctx.strokeRect(r.x, r.y, r.w, r.h);
    if (chosen.has(b.key)) picked.push({ r, b });
    else if (!many) tag(ctx, r, b, c);
  }
  ctx.setLineDash([]);
  for (const { r, b } of picked) {
    const c = s.color(b.label);
    ctx.fillStyle = c + '22';
    ctx.fillRect(r.x, r.y, r.w, r.h);
    tag(ctx, r, b, c);
  }
  if (picked.length === 1) handles(ctx, picked[0].r, s.color(picked[0].b.label));
}

/** The resize handles and the centre move grip of the single selected box. */
function handles(ctx: CanvasRenderingContext2D, r: Rect, c: string): void {
  ctx.fillStyle = '#fff';
  ctx.strokeStyle = c;
  ctx.lineWidth = 1.5;
  for (const h of HANDLES) {
    const p = handlePoint(r, h);
    ctx.fillRect(p.x - HANDLE / 2, p.y - HANDLE / 2, HANDLE, HANDLE);
    ctx.strokeRect(p.x - HANDLE / 2, p.y - HANDLE / 2, HANDLE, HANDLE);
  }
  const g = gripPoint(r);
  if (!g) return;
  ctx.beginPath(); // a four-way arrow: drag here to move the box
  ctx.arc(g.x, g.y, HANDLE, 0, 2 * Math.PI);
  ctx.fill();
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(g.x - 4, g.y); ctx.lineTo(g.x + 4, g.y);
  ctx.moveTo(g.x, g.y - 4); ctx.lineTo(g.x, g.y + 4);
  ctx.stroke();
}

function tag(ctx: CanvasRenderingContext2D, r: Rect, b: Ann, color: string): void {
  const text = b.draft && b.confidence != null ? `${b.label} ${Math.round(b.confidence * 100)}%` : b.label;
  const w = ctx.measureText(text).width + 8;
  const y = r.y >= 16 ? r.y - 16 : r.y;
  ctx.fillStyle = color;
  ctx.fillRect(r.x, y, w, 16);
  ctx.fillStyle = '#0b0d10';
  ctx.fillText(text, r.x + 4, y + 2);
}

function drawGuides(ctx: CanvasRenderingContext2D, s: Scene, p: Point): void {
  ctx.strokeStyle = 'rgba(255,255,255,0.35)';
  ctx.lineWidth = 1;
  ctx.setLineDash([4, 4]);
  ctx.beginPath();
  ctx.moveTo(0, p.y + 0.5);
  ctx.lineTo(s.cssW, p.y + 0.5);
  ctx.moveTo(p.x + 0.5, 0);
  ctx.lineTo(p.x + 0.5, s.cssH);
  ctx.stroke();
  ctx.setLineDash([]);
}
