// What the scanner counts as an image: the same extensions as the server (volumes/images.py).
export const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'bmp', 'tif', 'tiff', 'webp', 'gif'];

export function isImageName(name: string): boolean {
  if (name.startsWith('.')) return false;
  const dot = name.lastIndexOf('.');
  return dot > 0 && IMAGE_EXTENSIONS.includes(name.slice(dot + 1).toLowerCase());
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
