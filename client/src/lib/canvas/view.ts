// The view transform: image pixels <-> CSS pixels on the canvas (<-> device pixels through devicePixelRatio).
// screen = image * scale + (tx, ty). Boxes are stored normalised (0..1) and converted with the image size.

export interface Point { x: number; y: number }

export interface View {
  scale: number; // CSS px per image px
  tx: number; // CSS px
  ty: number;
  dpr: number; // device px per CSS px
}

export const MIN_SCALE = 0.02;
export const MAX_SCALE = 40;

export function toScreen(v: View, p: Point): Point {
  return { x: p.x * v.scale + v.tx, y: p.y * v.scale + v.ty };
}

export function toImage(v: View, p: Point): Point {
  return { x: (p.x - v.tx) / v.scale, y: (p.y - v.ty) / v.scale };
}

/** A pointer position in device pixels (canvas backing store) to CSS pixels. */
export function fromDevice(v: View, p: Point): Point {
  return { x: p.x / v.dpr, y: p.y / v.dpr };
}

export function toDevice(v: View, p: Point): Point {
  return { x: p.x * v.dpr, y: p.y * v.dpr };
}

/** The whole image centred in the canvas with a margin; never enlarged past 4x. */
export function fit(imageW: number, imageH: number, cssW: number, cssH: number, dpr = 1, margin = 12): View {
  if (imageW <= 0 || imageH <= 0 || cssW <= 0 || cssH <= 0) return { scale: 1, tx: 0, ty: 0, dpr };
  const scale = Math.min(4, Math.max(MIN_SCALE, Math.min((cssW - 2 * margin) / imageW, (cssH - 2 * margin) / imageH)));
  return { scale, tx: (cssW - imageW * scale) / 2, ty: (cssH - imageH * scale) / 2, dpr };
}

/** Zoom by factor keeping the image point under `at` (CSS px) where it is. */
export function zoomAt(v: View, at: Point, factor: number): View {
  const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, v.scale * factor));
  const k = scale / v.scale;
  return { scale, tx: at.x - (at.x - v.tx) * k, ty: at.y - (at.y - v.ty) * k, dpr: v.dpr };
}

export function pan(v: View, dx: number, dy: number): View {
  return { ...v, tx: v.tx + dx, ty: v.ty + dy };
}

/** The wheel's deltaY as a zoom factor: smooth for trackpads, one notch = 1.2x. */
export function wheelFactor(deltaY: number, deltaMode = 0): number {
  const px = deltaMode === 1 ? deltaY * 16 : deltaMode === 2 ? deltaY * 400 : deltaY;
  return Math.pow(1.2, -px / 100);
}

/**
 * The view for the next image that keeps the user's zoom and pan: the same zoom relative to the fitted view and
 * the same normalised image point at the canvas centre, so a region zoomed into on one image is where the
 * next image is shown too, whatever its size.
 */
export function carry(prev: View, prevW: number, prevH: number, nextW: number, nextH: number,
                      cssW: number, cssH: number): View {
  const before = fit(prevW, prevH, cssW, cssH, prev.dpr);
  const after = fit(nextW, nextH, cssW, cssH, prev.dpr);
  const centre = toImage(prev, { x: cssW / 2, y: cssH / 2 });
  const cx = centre.x / prevW, cy = centre.y / prevH;
  const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, after.scale * (prev.scale / before.scale)));
  return { scale, tx: cssW / 2 - cx * nextW * scale, ty: cssH / 2 - cy * nextH * scale, dpr: prev.dpr };
}
