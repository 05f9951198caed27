// A finished job's result in words ("14 images found · 14 added") instead of its raw field names.

const WORDS: Record<string, string> = {
  imagesFound: 'images found', samplesAdded: 'added', samplesTouched: 'images changed',
  annotationsCreated: 'annotations created', annotationsReplaced: 'annotations replaced',
  samplesSkipped: 'images left out', samplesCreated: 'images added', samples: 'images', succeeded: 'succeeded',
  failed: 'failed', drafts: 'drafts', droppedUnknownLabel: 'dropped (label not in the project)',
  droppedWrongKind: 'dropped (wrong kind)', belowThreshold: 'below the confidence threshold',
  annotationsChanged: 'annotations changed', samplesChanged: 'images changed', images: 'images',
  annotations: 'annotations', merged: 'merged', images_copied: 'images copied', missing: 'missing',
  foundAgain: 'found again', kept: 'kept', dropped: 'dropped', labelledDropped: 'labelled among the dropped',
  annotationsDropped: 'labels dropped', newImages: 'new images',
  maxDistance: 'bits apart at most', hashed: 'images hashed', groups: 'groups of near-duplicates',
  samplesInGroups: 'images in them',
  rowsRead: 'rows read', refused: 'refused (outside the folder or not images)',
  train: 'train', validation: 'validation', test: 'test', assigned: 'assigned',
  moved: 'moved to their group’s split',
};
const NAMED: Record<string, string> = { model: 'model', from: 'from', to: 'to', format: 'format', path: 'written to',
                                        sourceVolume: 'folder',
                                        action: 'action', snapshot: 'snapshot' };

/** Field names as words: a known one, else its camelCase or snake_case split ("samplesTouched" -> "samples touched"). */
export function words(key: string): string {
  return WORDS[key] ?? NAMED[key] ?? key.replace(/_/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

/** The parts of a result worth a line: numbers as "N words", flags and names in words; lists and objects left to
 * the views that show them in full (failures, row errors). */
export function describeResult(result: Record<string, unknown> | null | undefined): string {
  if (!result) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(result)) {
    if (k === 'dryRun') { if (v === true) parts.push('dry run: nothing was written'); continue; }
    if (typeof v === 'number') parts.push(`${v.toLocaleString('en-US')} ${words(k)}`);
    else if (typeof v === 'boolean') parts.push(`${words(k)}: ${v ? 'yes' : 'no'}`);
    else if (typeof v === 'string' && v) parts.push(`${words(k)} ${v}`);
  }
  return parts.join(' · ');
}
