// Unsaved work on an image, kept in localStorage at every edit so a reload or a crash loses nothing. A draft belongs
// to one image of one project in one tab, and is dropped the moment that image is back to what the server has
// (saved, undone, toggled back), so an undone edit can never come back.

import type { Ann } from '../canvas/boxes';

export type Edit = { kind: 'boxes'; boxes: Ann[] } | { kind: 'classes'; labels: string[] };

export interface Draft { sampleId: string; baseVersion: number; edit: Edit; at: number; tab: string }

const PREFIX = 'cvx:draft:';

/** Accepts the older stored shape too (boxes as {label, box}). */
function parse(raw: string): Draft | undefined {
  const d = JSON.parse(raw) as Draft & { change?: { kind: string; boxes?: { label: string; box: Ann }[];
                                                    labels?: string[] } };
  if (!d.edit && d.change) {
    const c = d.change;
    if (c.kind === 'classes') d.edit = { kind: 'classes', labels: c.labels ?? [] };
    else if (c.kind === 'boxes') d.edit = { kind: 'boxes', boxes: (c.boxes ?? []).map((b, i) => ({ ...b.box,
      label: b.label, key: `d${i}` })) };
  }
  return d.edit && typeof d.baseVersion === 'number' ? d : undefined;
}

export class Drafts {
  constructor(private readonly projectId: string, private readonly tab: string,
              private readonly storage: Storage = localStorage) {}

  private key(sampleId: string, tab = this.tab): string { return `${PREFIX}${this.projectId}:${sampleId}:${tab}`; }

  get(sampleId: string): Draft | undefined {
    const key = this.key(sampleId);
    const raw = this.storage.getItem(key);
    if (!raw) return undefined;
    try {
      return parse(raw);
    } catch {
      this.storage.removeItem(key);
      return undefined;
    }
  }

  keep(sampleId: string, baseVersion: number, edit: Edit): void {
    const draft: Draft = { sampleId, baseVersion, edit, at: Date.now(), tab: this.tab };
    this.storage.setItem(this.key(sampleId), JSON.stringify(draft));
  }

  drop(sampleId: string): void {
    this.storage.removeItem(this.key(sampleId));
  }

  /** Takes over the drafts of tabs that are no longer open (and of the older, tab-less keys). */
  adopt(openTabs: Set<string>): void {
    const mine = `${PREFIX}${this.projectId}:`;
    const keys: string[] = [];
    for (let i = 0; i < this.storage.length; i++) keys.push(this.storage.key(i) ?? '');
    for (const key of keys) {
      if (!key.startsWith(mine)) continue;
      const [sampleId, tab] = key.slice(mine.length).split(':');
      if (tab === this.tab || (tab && openTabs.has(tab))) continue;
      const raw = this.storage.getItem(key);
      this.storage.removeItem(key);
      if (raw && !this.storage.getItem(this.key(sampleId))) this.storage.setItem(this.key(sampleId), raw);
    }
  }
}
