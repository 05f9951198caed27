// Drawing helpers of the evaluation panel (no Svelte): a PR curve as an SVG path, a confusion cell's shade, and
// the numbers as the panel writes them.

export type ClassEvaluation = { label: string; truth: number; predicted: number; truePositives: number;
  precision: number | null; recall: number | null; f1: number | null; ap50: number | null; ap: number | null;
  prCurve: number[] };
export type Evaluation = { model: string; taskType: string; images: number; imagesWithPredictions: number;
  labels: number; predictions: number; ap?: number | null; ap50?: number | null; ap75?: number | null;
  apSmall?: number | null; apMedium?: number | null; apLarge?: number | null; accuracy?: number | null;
  classes: ClassEvaluation[]; confusion: { labels: string[]; matrix: number[][] } };

/** Precision at the 101 recall points (COCO's), as an SVG path in a width x height box (recall to the right). */
export function curvePath(precision: number[], width: number, height: number): string {
  const points = precision.map((p, i) => `${((i / 100) * width).toFixed(1)},${((1 - p) * height).toFixed(1)}`);
  return points.length ? `M${points.join('L')}` : '';
}

/** A cell's share of its row (0..1): how the heat map shades it, so a rare class's row reads as clearly as a
 *  common one's. */
export function rowShare(matrix: number[][], row: number, col: number): number {
  const total = matrix[row].reduce((a, b) => a + b, 0);
  return total ? matrix[row][col] / total : 0;
}

export function percent(value: number | null | undefined): string {
  return value === null || value === undefined ? '–' : `${(value * 100).toFixed(1)}`;
}
