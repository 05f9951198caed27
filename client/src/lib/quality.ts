// The geometry quality filters the gallery and the review queue offer: one problem at a time with its threshold,
// turned into the API's GeometryFilter.

export type QualityKind = '' | 'small' | 'sliver' | 'nested' | 'overlap' | 'many';

export interface Quality { kind: QualityKind; value: string }

export interface GeometryInput {
  smallerThanPx?: number; sliverRatio?: number; nestedSameClass?: boolean; overlapSameClass?: number;
  moreBoxesThan?: number;
}

/** What each choice says, the unit of its threshold and its default (null: it takes none). */
export const QUALITY: Record<Exclude<QualityKind, ''>, { text: string; unit: string | null; fallback: string;
                                                          min: number; max: number; step: number }> = {
  small: { text: 'Boxes smaller than', unit: 'px', fallback: '8', min: 1, max: 100000, step: 1 },
  sliver: { text: 'Slivers: sides ratio at least', unit: '×', fallback: '10', min: 1.1, max: 1000000, step: 0.5 },
  nested: { text: 'A box inside one of its class', unit: null, fallback: '', min: 0, max: 0, step: 0 },
  overlap: { text: 'Overlapping one of its class, IoU ≥', unit: '', fallback: '0.7', min: 0.05, max: 1, step: 0.05 },
  many: { text: 'Images with more boxes than', unit: 'boxes', fallback: '50', min: 0, max: 100000, step: 1 },
};

/** The API input for a choice, or null for none (or a threshold that is not a number in range: no filter yet). */
export function geometryInput(q: Quality): GeometryInput | null {
  if (!q.kind) return null;
  if (q.kind === 'nested') return { nestedSameClass: true };
  const spec = QUALITY[q.kind];
  const n = Number(q.value === '' ? spec.fallback : q.value);
  if (!Number.isFinite(n) || n < spec.min || n > spec.max) return null;
  switch (q.kind) {
    case 'small': return { smallerThanPx: Math.round(n) };
    case 'sliver': return { sliverRatio: n };
    case 'overlap': return { overlapSameClass: n };
    case 'many': return { moreBoxesThan: Math.round(n) };
  }
}
