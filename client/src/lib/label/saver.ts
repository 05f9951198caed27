// Saving in the background. An edit is written to localStorage the moment it is made (so a reload or a crash
// loses nothing), then sent in order, one request at a time, with the version it was based on. A CONFLICT stops
// that sample's save and is handed to the UI, which keeps the user's edit or takes the colleague's.

import { ApiError, gql } from '../api/graphql';
import type { Rect } from '../canvas/boxes';
import { SAMPLE_FIELDS, type SampleData } from './samples';

export type Change =
  | { kind: 'boxes'; boxes: { label: string; box: Rect }[] }
  | { kind: 'classes'; labels: string[] }
  | { kind: 'skip' };

export interface Pending { sampleId: string; baseVersion: number; change: Change; at: number }

export interface Conflict { pending: Pending; theirs: SampleData; message: string }

export interface SaverEvents {
  saved(sample: SampleData, pending: Pending): void;
  conflict(c: Conflict): void;
  failed(message: string, pending: Pending): void; // any other error: the edit stays stored and is retried
  idle(): void;
}

const PREFIX = 'cvx:pending:';
const DRAFT = 'cvx:draft:';
const RETRY_MS = [1000, 2000, 5000, 10000];

export function storedPending(storage: Storage, projectId: string): Pending[] {
  const out: Pending[] = [];
  for (let i = 0; i < storage.length; i++) {
    const key = storage.key(i);
    if (!key?.startsWith(`${PREFIX}${projectId}:`)) continue;
    try { out.push(JSON.parse(storage.getItem(key)!)); } catch { storage.removeItem(key); }
  }
  return out.sort((a, b) => a.at - b.at);
}

const MUTATIONS: Record<Change['kind'], string> = {
  boxes: `mutation($s: ID!, $a: [AnnotationInput!]!, $v: Int) {
    r: saveAnnotations(sampleId: $s, annotations: $a, allowEmpty: true, expectedVersion: $v) { ${SAMPLE_FIELDS} } }`,
  classes: `mutation($s: ID!, $l: [String!]!, $v: Int) {
    r: setClassification(sampleId: $s, labels: $l, expectedVersion: $v) { ${SAMPLE_FIELDS} } }`,
  skip: `mutation($s: ID!, $v: Int) { r: skipSample(sampleId: $s, expectedVersion: $v) { ${SAMPLE_FIELDS} } }`,
};

export class Saver {
  private queue: Pending[] = [];
  private running = false;
  private attempt = 0;

  constructor(private readonly projectId: string, private readonly events: SaverEvents,
              private readonly storage: Storage = localStorage) {
    this.queue = storedPending(storage, projectId); // edits a reload or crash interrupted go out first
  }

  private key(sampleId: string): string { return `${PREFIX}${this.projectId}:${sampleId}`; }

  /** Unsaved edit of a sample, if any (from this page or an earlier one). */
  pendingFor(sampleId: string): Pending | undefined {
    return this.queue.find((p) => p.sampleId === sampleId);
  }

  get busy(): boolean { return this.queue.length > 0; }

  /** Queue a change; a newer change of the same sample replaces an unsent one. */
  save(sampleId: string, baseVersion: number, change: Change): void {
    const pending: Pending = { sampleId, baseVersion, change, at: Date.now() };
    const waiting = this.queue.findIndex((p, i) => p.sampleId === sampleId && (i > 0 || !this.running));
    if (waiting >= 0) {
      pending.baseVersion = this.queue[waiting].baseVersion;
      this.queue[waiting] = pending;
    } else {
      this.queue.push(pending);
    }
    this.storage.setItem(this.key(sampleId), JSON.stringify(pending));
    this.dropDraft(sampleId);
    void this.pump();
  }

  /** Drops a sample's unsent edit (the user took the colleague's version). */
  discard(sampleId: string): void {
    this.queue = this.queue.filter((p) => p.sampleId !== sampleId);
    this.storage.removeItem(this.key(sampleId));
    this.dropDraft(sampleId);
  }

  /** Work in progress on the open sample, kept locally at every edit until it is saved or discarded. */
  keepDraft(sampleId: string, baseVersion: number, change: Change): void {
    const draft: Pending = { sampleId, baseVersion, change, at: Date.now() };
    this.storage.setItem(`${DRAFT}${this.projectId}:${sampleId}`, JSON.stringify(draft));
  }

  draftFor(sampleId: string): Pending | undefined {
    const raw = this.storage.getItem(`${DRAFT}${this.projectId}:${sampleId}`);
    if (!raw) return undefined;
    try { return JSON.parse(raw) as Pending; } catch { this.dropDraft(sampleId); return undefined; }
  }

  dropDraft(sampleId: string): void {
    this.storage.removeItem(`${DRAFT}${this.projectId}:${sampleId}`);
  }

  /** Resolves when everything queued has been sent (or is stuck on an error or conflict). */
  async settled(): Promise<void> {
    while (this.running || (this.queue.length && this.attempt === 0)) {
      if (!this.running) void this.pump();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Sends what is queued, in order; returns when the queue is empty or stuck on an error. */
  async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length) {
        const p = this.queue[0];
        try {
          const sample = await this.send(p);
          this.queue.shift();
          if (this.queue.every((q) => q.sampleId !== p.sampleId)) this.storage.removeItem(this.key(p.sampleId));
          else this.queue.filter((q) => q.sampleId === p.sampleId).forEach((q) => (q.baseVersion = sample.version));
          this.attempt = 0;
          this.events.saved(sample, p);
        } catch (e) {
          const err = e as ApiError;
          if (err.code === 'CONFLICT') {
            this.queue.shift();
            const theirs = (await gql(`query($s: ID!){ sample(id: $s){ ${SAMPLE_FIELDS} } }`, { s: p.sampleId })).sample;
            this.events.conflict({ pending: p, theirs, message: err.message });
            continue;
          }
          if (err.code === 'VALIDATION' || err.code === 'NOT_FOUND') {
            this.discard(p.sampleId); // it can never succeed: say so and drop it
            this.events.failed(err.message, p);
            continue;
          }
          this.events.failed(err.message, p);
          const wait = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
          this.attempt += 1;
          setTimeout(() => this.pump(), wait);
          return;
        }
      }
      this.events.idle();
    } finally {
      this.running = false;
    }
  }

  /** Keep the user's edit after a conflict: send it again on top of the colleague's version. */
  keepMine(c: Conflict): void {
    this.save(c.pending.sampleId, c.theirs.version, c.pending.change);
  }

  private async send(p: Pending): Promise<SampleData> {
    const vars: Record<string, unknown> = { s: p.sampleId, v: p.baseVersion };
    if (p.change.kind === 'boxes') vars.a = p.change.boxes.map((b) => ({ label: b.label, kind: 'BBOX', box: b.box }));
    if (p.change.kind === 'classes') vars.l = p.change.labels;
    return (await gql(MUTATIONS[p.change.kind], vars)).r as SampleData;
  }
}
