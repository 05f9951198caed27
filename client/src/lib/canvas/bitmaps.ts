// Decoded pixels of the images about to be shown: a canvas given an <img> decodes the photo again when it rasters
// (40-80 ms for a 2400x1600 JPEG on a busy machine), an ImageBitmap is already pixels. Only the newest few are kept
// (a 12-megapixel photo is 48 MB decoded); an image without one is drawn from the <img>.

const KEPT = 6;
const bitmaps = new Map<HTMLImageElement, ImageBitmap>(); // oldest first

/** Decodes `img` into a bitmap kept for drawing (the oldest beyond KEPT is released). */
export async function keepDecoded(img: HTMLImageElement): Promise<void> {
  if (typeof createImageBitmap === 'undefined' || bitmaps.has(img)) return;
  const bitmap = await createImageBitmap(img);
  bitmaps.set(img, bitmap);
  for (const [old, b] of bitmaps) {
    if (bitmaps.size <= KEPT) break;
    bitmaps.delete(old);
    b.close();
  }
}

/** What to draw for `img`: its kept bitmap, or the image itself. */
export function drawable(img: HTMLImageElement): CanvasImageSource {
  return bitmaps.get(img) ?? img;
}
