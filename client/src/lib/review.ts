// The review queue's data: one labelled sample, and the labelling-date filter turned into the API's range.

export interface QueueItem {
  id: string; filename: string; version: number; labeledBy: string | null; labeledAt: string | null;
  reviewStatus: 'NONE' | 'ACCEPTED' | 'REJECTED'; reviewedBy: string | null; reviewComment: string | null;
  imageUrl: string;
  annotations: { label: string; kind: string; isDraft: boolean; box: { x: number; y: number; w: number; h: number } | null }[];
}

/** `from` and `to` are days (YYYY-MM-DD, UTC), both included: labeledAfter is the first day's start and
 *  labeledBefore the start of the day after the last (exclusive). Empty days leave that end open. */
export function dayRange(from: string, to: string): { after: string | null; before: string | null } {
  const after = from ? `${from}T00:00:00Z` : null;
  let before: string | null = null;
  if (to) {
    const next = new Date(`${to}T00:00:00Z`);
    next.setUTCDate(next.getUTCDate() + 1);
    before = next.toISOString();
  }
  return { after, before };
}
