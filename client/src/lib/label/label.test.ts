import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/graphql';
import { Drafts } from './drafts';
import { SampleStore, type SampleData } from './samples';
import { holds, Saver, type Change, type Pending } from './saver';
import { LabelSession } from './session';

class MemoryStorage implements Storage {
  private items = new Map<string, string>();
  get length(): number { return this.items.size; }
  clear(): void { this.items.clear(); }
  getItem(key: string): string | null { return this.items.get(key) ?? null; }
  key(i: number): string | null { return [...this.items.keys()][i] ?? null; }
  removeItem(key: string): void { this.items.delete(key); }
  setItem(key: string, value: string): void { this.items.set(key, value); }
  keys(): string[] { return [...this.items.keys()]; }
}

const sample = (id: string, labels: string[] = [], extra: Partial<SampleData> = {}): SampleData => ({
  id, projectId: '1', filename: `${id}.jpg`, status: labels.length ? 'LABELED' : 'UNLABELED', version: 1,
  width: 10, height: 10, imageUrl: `/i/${id}`, labeledBy: null, lockedBy: null, reviewStatus: 'NONE',
  reviewedBy: null, reviewComment: null,
  annotations: labels.map((l, i) => ({ id: `${id}${i}`, label: l, kind: 'CLASSIFICATION', box: null, isDraft: false,
                                       confidence: null, createdBy: 'me' })),
  ...extra,
});

/** A stand-in for the GraphQL server of one classification project: just enough for the saver and the session. */
class FakeServer {
  samples = new Map<string, SampleData>();
  calls: string[] = [];
  down = false;

  constructor(items: SampleData[]) { for (const s of items) this.samples.set(s.id, s); }

  request = async (query: string, vars: Record<string, unknown> = {}): Promise<any> => {
    if (this.down) throw new ApiError('The server cannot be reached.', 'UNAVAILABLE');
    const ids = [...this.samples.keys()];
    if (query.includes('samplePosition')) {
      const i = ids.indexOf(vars.s as string);
      const node = (id: string) => ({ node: this.samples.get(id) });
      return { sample: this.samples.get(vars.s as string) ?? null, project: { samplePosition: i + 1,
        stats: { total: ids.length }, before: { edges: ids.slice(0, i).map(node) },
        after: { edges: ids.slice(i + 1).map(node) } } };
    }
    if (query.includes('samples(')) return { project: { samples: { edges: [] } } };
    if (query.includes('sample(id: $s)')) return { sample: this.samples.get(vars.s as string) };
    const s = this.samples.get(vars.s as string)!;
    this.calls.push(query.includes('skipSample') ? `skip ${s.id}` : `save ${s.id} ${JSON.stringify(vars.l)}`);
    if (vars.v !== s.version) throw new ApiError('changed since you loaded it', 'CONFLICT');
    const next = query.includes('skipSample') ? { ...s, status: 'SKIPPED', version: s.version + 1 }
      : { ...sample(s.id, vars.l as string[]), version: s.version + 1, status: 'LABELED' };
    this.samples.set(s.id, next);
    return { r: next };
  };
}

const events = () => {
  const log: string[] = [];
  return { log, saved: (s: SampleData) => log.push(`saved ${s.id} v${s.version}`),
           conflict: (c: { pending: Pending }) => log.push(`conflict ${c.pending.sampleId}`),
           failed: (m: string) => log.push(`failed ${m}`), idle: () => log.push('idle') };
};

describe('drafts', () => {
  it('belong to one image and tab; closed tabs are adopted, open ones are not', () => {
    const storage = new MemoryStorage();
    const a = new Drafts('1', 'tabA', storage);
    const b = new Drafts('1', 'tabB', storage);
    a.keep('7', 3, { kind: 'classes', labels: ['cat'] });
    expect(b.get('7')).toBeUndefined();
    b.adopt(new Set(['tabA'])); // tab A is still open: its work stays its own
    expect(b.get('7')).toBeUndefined();
    b.adopt(new Set()); // tab A was closed or crashed
    expect(b.get('7')).toMatchObject({ baseVersion: 3, edit: { labels: ['cat'] } });
    b.drop('7');
    expect(storage.keys()).toEqual([]);
  });

  it('reads the older stored shape', () => {
    const storage = new MemoryStorage();
    storage.setItem('cvx:draft:1:9:t', JSON.stringify({ sampleId: '9', baseVersion: 2, at: 1,
      change: { kind: 'boxes', boxes: [{ label: 'car', box: { x: 0.1, y: 0.2, w: 0.3, h: 0.4 } }] } }));
    expect(new Drafts('1', 't', storage).get('9')?.edit).toMatchObject({ kind: 'boxes',
      boxes: [{ label: 'car', x: 0.1, y: 0.2, w: 0.3, h: 0.4 }] });
  });
});

describe('saver', () => {
  const classes = (...labels: string[]): Change => ({ kind: 'classes', labels });

  it('never lets a skip replace a queued save, nor a save a skip', async () => {
    const server = new FakeServer([sample('1')]);
    const saver = new Saver('1', 't', events(), new MemoryStorage(), server.request);
    saver.save('1', 1, classes('cat'));
    saver.save('1', 1, classes('dog')); // same kind, waiting: the newer one replaces it
    saver.save('1', 1, { kind: 'skip' });
    await saver.settled();
    expect(server.calls).toEqual(['save 1 ["cat"]', 'save 1 ["dog"]', 'skip 1']);
    expect(server.samples.get('1')).toMatchObject({ status: 'SKIPPED', version: 4 });
  });

  it('keeps every queued change on disk until it is answered, and picks them up after a reload', async () => {
    const storage = new MemoryStorage();
    const server = new FakeServer([sample('1'), sample('2')]);
    server.down = true;
    const first = new Saver('1', 't', events(), storage, server.request);
    first.save('1', 1, classes('cat'));
    first.save('2', 1, { kind: 'skip' });
    await first.settled();
    server.down = false;
    const again = new Saver('1', 't', events(), storage, server.request);
    again.adopt(new Set());
    await again.settled();
    expect(server.calls.sort()).toEqual(['save 1 ["cat"]', 'skip 2']);
    expect(storage.keys()).toEqual([]);
  });

  it('takes a conflict whose result is already stored as done (a reload cut off the answer)', async () => {
    const server = new FakeServer([{ ...sample('1', ['cat']), version: 2 }]);
    const log = events();
    const saver = new Saver('1', 't', log, new MemoryStorage(), server.request);
    saver.save('1', 1, classes('cat'));
    await saver.settled();
    expect(log.log).toEqual(['saved 1 v2', 'idle']);
    saver.save('1', 1, classes('dog'));
    await saver.settled();
    expect(log.log).toContain('conflict 1');
  });

  it('knows when the server already holds a change', () => {
    expect(holds(sample('1', ['b', 'a']), { kind: 'classes', labels: ['a', 'b'] })).toBe(true);
    expect(holds(sample('1', ['a']), { kind: 'classes', labels: ['a', 'b'] })).toBe(false);
    expect(holds(sample('1'), { kind: 'classes', labels: [] })).toBe(false); // unlabelled is not 'none of these'
    expect(holds({ ...sample('1'), status: 'SKIPPED' }, { kind: 'skip' })).toBe(true);
  });
});

describe('labelling session', () => {
  const start = async (server: FakeServer, storage = new MemoryStorage(), multiLabel = false) => {
    const noImages = () => Promise.resolve({} as HTMLImageElement); // no DOM here: the pictures are not the point
    const session = new LabelSession('1', { changed: () => {}, opened: () => {}, say: () => {} },
                                     { request: server.request, storage, tab: 't',
                                       store: new SampleStore('1', server.request, noImages) });
    await session.start({ id: '1', name: 'P', taskType: 'CLASSIFICATION', multiLabel, classes: ['cat', 'bird'] },
                        '1', new Set());
    return { session, storage };
  };

  it('browsing writes nothing and leaves no draft behind', async () => {
    const server = new FakeServer([sample('1', ['bird']), sample('2'), sample('3')]);
    const { session, storage } = await start(server);
    for (const kind of ['next', 'prev', 'next', 'prev', 'next'] as const) await session.command({ kind });
    expect(server.calls).toEqual([]);
    expect(storage.keys()).toEqual([]);
    expect(session.sample?.id).toBe('2');
  });

  it('an edit toggled back is forgotten; a real one is sent when moving on', async () => {
    const server = new FakeServer([sample('1'), sample('2')]);
    const { session, storage } = await start(server, new MemoryStorage(), true);
    await session.command({ kind: 'class', index: 0 });
    expect(storage.keys()).toEqual(['cvx:draft:1:1:t']);
    await session.command({ kind: 'class', index: 0 });
    expect(storage.keys()).toEqual([]);
    await session.command({ kind: 'class', index: 1 });
    await session.command({ kind: 'next' });
    await new Promise((r) => setTimeout(r, 30));
    expect(server.calls).toEqual(['save 1 ["bird"]']);
  });

  it('refuses a sample of another project', async () => {
    const server = new FakeServer([{ ...sample('1'), projectId: '2' }]);
    const { session } = await start(server);
    expect(session.fatal).toMatch(/belongs to another project/);
    expect(session.fatalLink?.href).toBe('#/projects/2/label/1');
  });
});
