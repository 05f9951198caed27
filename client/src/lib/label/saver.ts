// Saving in the background. A change is written to localStorage the moment it is queued (so a reload or a crash
// loses nothing), then sent in order, one request at a time, with the version it was based on and the project it
// was made under. A CONFLICT stops that change and is handed to the UI, which keeps the user's edit or takes the
// colleague's. Queued changes belong to the tab that made them (lib/label/tabs.ts): another open tab never sends them.

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
  failed(message: string, pending: Pending): void; // any other error: the change stays stored and is retried
  idle(): void;
}

export type Request = <T = any>(query: string, variables?: Record<string, unknown>) => Promise<T>;

const PREFIX = 'cvx:pending:';
const RETRY_MS = [1000, 2000, 5000, 10000];

const MUTATIONS: Record<Change['kind'], string> = {
  boxes: `mutation($s: ID!, $a: [AnnotationInput!]!, $v: Int, $p: ID) {
    r: saveAnnotations(sampleId: $s, annotations: $a, allowEmpty: true, expectedVersion: $v, projectId: $p) {
      ${SAMPLE_FIELDS} } }`,
  classes: `mutation($s: ID!, $l: [String!]!, $v: Int, $p: ID) {
    r: setClassification(sampleId: $s, labels: $l, expectedVersion: $v, projectId: $p) { ${SAMPLE_FIELDS} } }`,
  skip: `mutation($s: ID!, $v: Int, $p: ID) {
    r: skipSample(sampleId: $s, expectedVersion: $v, projectId: $p) { ${SAMPLE_FIELDS} } }`,
};

const sameLabels = (a: string[], b: string[]) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
const boxText = (label: string, r: Rect) => JSON.stringify([label, r.x, r.y, r.w, r.h]);

/** Whether the server's sample already is what the change would make it. */
export function holds(s: SampleData, change: Change): boolean {
  if (change.kind === 'skip') return s.status === 'SKIPPED';
  if (s.status !== 'LABELED' || s.annotations.some((a) => a.isDraft)) return false;
  if (change.kind === 'classes') return sameLabels(s.annotations.map((a) => a.label), change.labels);
  const stored = s.annotations.map((a) => (a.box ? boxText(a.label, a.box) : ''));
  return sameLabels(stored, change.boxes.map((b) => boxText(b.label, b.box)));
}

export class Saver {
  private queue: Pending[] = [];
  private running = false;
  private attempt = 0;

  constructor(private readonly projectId: string, private readonly tab: string, private readonly events: SaverEvents,
              private readonly storage: Storage = localStorage, private readonly request: Request = gql) {}

  private key(sampleId: string, tab = this.tab): string { return `${PREFIX}${this.projectId}:${sampleId}:${tab}`; }

  /** Loads this tab's queued changes that a reload interrupted, and those of tabs no longer open (a crash). */
  adopt(openTabs: Set<string>): void {
    const mine = `${PREFIX}${this.projectId}:`;
    const keys: string[] = [];
    for (let i = 0; i < this.storage.length; i++) keys.push(this.storage.key(i) ?? '');
    const found: Pending[] = [];
    for (const key of keys) {
      if (!key.startsWith(mine)) continue;
      const [sampleId, tab] = key.slice(mine.length).split(':');
      if (tab !== this.tab && tab && openTabs.has(tab)) continue;
      const raw = this.storage.getItem(key);
      this.storage.removeItem(key);
      try {
        const stored = JSON.parse(raw ?? '') as Pending | Pending[]; // one change per key in older versions
        for (const p of Array.isArray(stored) ? stored : [stored]) {
          if (p.sampleId === sampleId && p.change) found.push(p);
        }
      } catch { /* unreadable: dropped */ }
    }
    for (const p of found.sort((a, b) => a.at - b.at)) this.enqueue(p);
  }

  /** The last queued, unconfirmed change of a sample, if any. */
  pendingFor(sampleId: string): Pending | undefined {
    return this.queue[this.lastOf(sampleId)];
  }

  private lastOf(sampleId: string): number {
    for (let i = this.queue.length - 1; i >= 0; i--) if (this.queue[i].sampleId === sampleId) return i;
    return -1;
  }

  get busy(): boolean { return this.queue.length > 0; }

  /** Queue a change. A waiting (unsent) change of the same sample and kind is replaced by the newer one; a skip
   * never replaces an edit, nor an edit a skip: both were asked for. */
  save(sampleId: string, baseVersion: number, change: Change): void {
    this.enqueue({ sampleId, baseVersion, change, at: Date.now() });
    void this.pump();
  }

  private enqueue(pending: Pending): void {
    const last = this.lastOf(pending.sampleId);
    const waiting = last > 0 || (last === 0 && !this.running);
    if (waiting && this.queue[last].change.kind === pending.change.kind) {
      pending.baseVersion = this.queue[last].baseVersion;
      this.queue[last] = pending;
    } else {
      this.queue.push(pending);
    }
    this.store(pending.sampleId);
  }

  /** What is stored for a sample mirrors its queued changes, all of them, in order. */
  private store(sampleId: string): void {
    const mine = this.queue.filter((p) => p.sampleId === sampleId);
    if (!mine.length) this.storage.removeItem(this.key(sampleId));
    else this.storage.setItem(this.key(sampleId), JSON.stringify(mine));
  }

  /** Drops a sample's queued changes (the user took the colleague's version). */
  discard(sampleId: string): void {
    this.queue = this.queue.filter((p, i) => p.sampleId !== sampleId || (i === 0 && this.running));
    this.store(sampleId);
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
          this.queue.filter((q) => q.sampleId === p.sampleId).forEach((q) => (q.baseVersion = sample.version));
          this.store(p.sampleId);
          this.attempt = 0;
          this.events.saved(sample, p);
        } catch (e) {
          const err = e as ApiError;
          if (err.code === 'CONFLICT') {
            const theirs = await this.theirs(p.sampleId);
            if (theirs && holds(theirs, p.change)) { // ours already landed (a reload cut off its answer): done
              this.queue.shift();
              this.store(p.sampleId);
              this.events.saved(theirs, p);
              continue;
            }
            if (theirs) {
              this.queue = this.queue.filter((q) => q.sampleId !== p.sampleId); // the later ones share its base
              this.store(p.sampleId);
              this.events.conflict({ pending: p, theirs, message: err.message });
              continue;
            }
          }
          if (err.code === 'VALIDATION' || err.code === 'NOT_FOUND' || err.code === 'FORBIDDEN') {
            this.queue = this.queue.filter((q) => q.sampleId !== p.sampleId); // it can never succeed: say so
            this.store(p.sampleId);
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

  /** The colleague's version after a CONFLICT (undefined if it cannot be read now: the change is retried). */
  private async theirs(sampleId: string): Promise<SampleData | undefined> {
    try {
      return (await this.request(`query($s: ID!){ sample(id: $s){ ${SAMPLE_FIELDS} } }`, { s: sampleId })).sample;
    } catch {
      return undefined;
    }
  }

  private async send(p: Pending): Promise<SampleData> {
    const vars: Record<string, unknown> = { s: p.sampleId, v: p.baseVersion, p: this.projectId };
    if (p.change.kind === 'boxes') vars.a = p.change.boxes.map((b) => ({ label: b.label, kind: 'BBOX', box: b.box }));
    if (p.change.kind === 'classes') vars.l = p.change.labels;
    return (await this.request(MUTATIONS[p.change.kind], vars)).r as SampleData;
  }
}
