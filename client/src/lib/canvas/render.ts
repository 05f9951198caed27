// Painting one frame: the image under the view transform, then boxes, tags, handles, the box being drawn and the
// crosshair guides in screen space (constant line widths at any zoom). Pure function of its inputs.

import { HANDLES, handlePoint, type Ann, type Rect } from './boxes';
import { screenRect } from './hit';
import type { Point, View } from './view';

export interface Scene {
  cssW: number;
  cssH: number;
  view: View;
  image: CanvasImageSource | null;
  imageW: number;
  imageH: number;
  boxes: Ann[];
  selected: string | null;
  hidden: boolean;
  drawing: Rect | null;
  drawColor: string;
  pointer: Point | null; // CSS px, for the crosshair guides; null when the pointer is away or drawing is off
  color: (label: string) => string;
}

const TAG_FONT = '600 11px system-ui, sans-serif';
const HANDLE = 7;

export function render(ctx: CanvasRenderingContext2D, s: Scene): void {
  const { view: v } = s;
  ctx.setTransform(v.dpr, 0, 0, v.dpr, 0, 0);
  ctx.fillStyle = '#101317';
  ctx.fillRect(0, 0, s.cssW, s.cssH);
  if (s.image) {
    ctx.setTransform(v.dpr * v.scale, 0, 0, v.dpr * v.scale, v.dpr * v.tx, v.dpr * v.ty);
    ctx.imageSmoothingEnabled = v.scale < 2;
    ctx.drawImage(s.image, 0, 0, s.imageW, s.imageH);
    ctx.setTransform(v.dpr, 0, 0, v.dpr, 0, 0);
  }
  if (!s.hidden) drawBoxes(ctx, s);
  if (s.drawing) {
    const r = screenRect(v, s.drawing, s.imageW, s.imageH);
    ctx.strokeStyle = s.drawColor;
    ctx.lineWidth = 2;
    ctx.setLineDash([]);
    ctx.strokeRect(r.x, r.y, r.w, r.h);
  }
  if (s.pointer) drawGuides(ctx, s, s.pointer);
}

function drawBoxes(ctx: CanvasRenderingContext2D, s: Scene): void {
  const { view: v } = s;
  ctx.font = TAG_FONT;
  ctx.textBaseline = 'top';
  const many = s.boxes.length > 200; // tags only for the selected box when crowded: keeps big scenes fast
  let selected: { r: Rect; b: Ann } | null = null;
  for (const b of s.boxes) {
    const r = screenRect(v, b, s.imageW, s.imageH);
    if (r.x > s.cssW || r.y > s.cssH || r.x + r.w < 0 || r.y + r.h < 0) continue;
    const c = s.color(b.label);
    ctx.strokeStyle = c;
    ctx.lineWidth = b.key === s.selected ? 2.5 : 1.5;
    ctx.setLineDash(b.draft ? [6, 4] : []);
    ctx.strokeRect(r.x, r.y, r.w, r.h);
    if (b.key === s.selected) selected = { r, b };
    else if (!many) tag(ctx, r, b, c);
  }
  ctx.setLineDash([]);
  if (selected) {
    const { r, b } = selected;
    const c = s.color(b.label);
    ctx.fillStyle = c + '22';
    ctx.fillRect(r.x, r.y, r.w, r.h);
    tag(ctx, r, b, c);
    ctx.fillStyle = '#fff';
    ctx.strokeStyle = c;
    ctx.lineWidth = 1.5;
    for (const h of HANDLES) {
      const p = handlePoint(r, h);
      ctx.fillRect(p.x - HANDLE / 2, p.y - HANDLE / 2, HANDLE, HANDLE);
      ctx.strokeRect(p.x - HANDLE / 2, p.y - HANDLE / 2, HANDLE, HANDLE);
    }
  }
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
