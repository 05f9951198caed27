// Bulk actions from the gallery: one request per sample, a few at a time, with each sample's version as the
// expected version, so a colleague's concurrent edit is reported as changed rather than overwritten.

import { ApiError, gql } from './api/graphql';
import type { GeometryInput } from './quality';

export interface Target { id: string; version: number; labels: string[] } // labels: its classification labels now

export interface BulkResult { done: number; conflicts: number; errors: string[] }

export async function runBulk(targets: Target[], one: (t: Target) => Promise<void>,
                              onProgress: (done: number) => void, concurrency = 4): Promise<BulkResult> {
  const result: BulkResult = { done: 0, conflicts: 0, errors: [] };
  let next = 0;
  let finished = 0;
  async function worker(): Promise<void> {
    while (next < targets.length) {
      const t = targets[next++];
      try {
        await one(t);
        result.done += 1;
      } catch (e) {
        if ((e as ApiError).code === 'CONFLICT') result.conflicts += 1;
        else if (result.errors.length < 5) result.errors.push((e as Error).message);
      }
      onProgress(++finished);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, targets.length) }, worker));
  return result;
}

export const assignClass = (label: string, multiLabel: boolean) => (t: Target) =>
  gql(`mutation($s: ID!, $l: [String!]!, $v: Int){ setClassification(sampleId: $s, labels: $l, expectedVersion: $v){ id } }`,
      { s: t.id, l: multiLabel ? [...new Set([...t.labels, label])] : [label], v: t.version }).then(() => {});

export const skip = (t: Target) =>
  gql(`mutation($s: ID!, $v: Int){ skipSample(sampleId: $s, expectedVersion: $v){ id } }`, { s: t.id, v: t.version })
    .then(() => {});

export async function acceptDrafts(ids: string[]): Promise<number> {
  return (await gql(`mutation($ids: [ID!]!){ acceptDrafts(sampleIds: $ids) }`, { ids })).acceptDrafts;
}

export async function clearDrafts(ids: string[]): Promise<number> {
  return (await gql(`mutation($ids: [ID!]!){ clearDrafts(sampleIds: $ids) }`, { ids })).clearDrafts;
}

/** The gallery's filters as the API's SampleFilterInput (empty ones left out). */
export interface GalleryFilter { status?: string; label?: string; filename?: string; labeledBy?: string;
                                 maxConfidence?: number; reviewStatus?: string; geometry?: GeometryInput;
                                 duplicatesOf?: string; hasDuplicates?: boolean; split?: string }

export interface DraftTally { samples: number; drafts: number }

export async function draftTally(projectId: string, filter: GalleryFilter): Promise<DraftTally> {
  return (await gql(`query($p: ID!, $f: SampleFilterInput){ projectDrafts(projectId: $p, filter: $f){ samples drafts } }`,
                    { p: projectId, f: filter })).projectDrafts;
}

/** Starts the DRAFTS job accepting or clearing every draft of the filter; `expected` is the count the user confirmed. */
export async function sweepDrafts(projectId: string, filter: GalleryFilter, accept: boolean,
                                  expected: number): Promise<string> {
  const vars = { p: projectId, n: expected, f: filter };
  if (accept) {
    return (await gql(`mutation($p: ID!, $n: Int!, $f: SampleFilterInput){ acceptProjectDrafts(projectId: $p,
                       expectedDrafts: $n, filter: $f){ id } }`, vars)).acceptProjectDrafts.id;
  }
  return (await gql(`mutation($p: ID!, $n: Int!, $f: SampleFilterInput){ clearProjectDrafts(projectId: $p,
                     expectedDrafts: $n, filter: $f){ id } }`, vars)).clearProjectDrafts.id;
}
