import { describe, expect, it } from 'vitest';
import { ApiError, gql } from './api/graphql';
import { addClass, changedClasses, moveClass, removeClass } from './classes';
import { PALETTE, classColor } from './colors';
import { isImageName } from './files';
import { href, parseRoute } from './router.svelte';
import { click, empty, selectAll } from './selection';
import { runBulk } from './bulk';
import { geometryInput } from './quality';
import { absolute, day, when } from './dates';
import { describeResult } from './results';

describe('router', () => {
  it('parses and builds routes', () => {
    expect(parseRoute('')).toEqual({ name: 'projects' });
    expect(parseRoute('#/new')).toEqual({ name: 'new' });
    expect(parseRoute('#/projects/42')).toEqual({ name: 'project', id: '42' });
    expect(parseRoute('#/nope')).toEqual({ name: 'notFound', path: '/nope' });
    expect(href({ name: 'project', id: '7' })).toBe('#/projects/7');
    expect(parseRoute('#/projects/4/label')).toEqual({ name: 'label', id: '4', sampleId: null });
    expect(parseRoute('#/projects/4/label/99')).toEqual({ name: 'label', id: '4', sampleId: '99' });
    expect(href({ name: 'label', id: '4', sampleId: '99' })).toBe('#/projects/4/label/99');
    expect(parseRoute('#/jobs')).toEqual({ name: 'jobs' });
  });
});

describe('class list', () => {
  it('adds, refuses duplicates and blanks, removes and moves', () => {
    expect(addClass(['cat'], ' dog ').list).toEqual(['cat', 'dog']);
    expect(addClass(['cat'], 'cat').error).toMatch(/already/);
    expect(addClass(['cat'], '  ').error).toBeTruthy();
    expect(removeClass(['a', 'b', 'c'], 1)).toEqual(['a', 'c']);
    expect(moveClass(['a', 'b', 'c'], 2, -1)).toEqual(['a', 'c', 'b']);
    expect(moveClass(['a', 'b'], 0, -1)).toEqual(['a', 'b']);
  });
});

describe('helpers', () => {
  it('colours cycle through the palette', () => {
    expect(classColor(0)).toBe(PALETTE[0]);
    expect(classColor(PALETTE.length + 1)).toBe(PALETTE[1]);
    expect(new Set(PALETTE).size).toBe(PALETTE.length);
  });
  it('recognises image names like the scanner', () => {
    expect(isImageName('a.JPG')).toBe(true);
    expect(isImageName('b.tiff')).toBe(true);
    expect(isImageName('.hidden.jpg')).toBe(false);
    expect(isImageName('notes.txt')).toBe(false);
  });
});

describe('gql', () => {
  it('turns the first GraphQL error into an ApiError with its code', async () => {
    const fake = (async () => new Response(JSON.stringify({
      errors: [{ message: 'A project named "Cats" already exists.', extensions: { code: 'CONFLICT' } }],
    }))) as typeof fetch;
    await expect(gql('mutation { x }', {}, fake)).rejects.toMatchObject({ code: 'CONFLICT' });
    const ok = (async () => new Response(JSON.stringify({ data: { me: { name: 'a' } } }))) as typeof fetch;
    expect(await gql('{ me { name } }', {}, ok)).toEqual({ me: { name: 'a' } });
    const down = (async () => { throw new TypeError('fetch failed'); }) as typeof fetch;
    await expect(gql('{ me { name } }', {}, down)).rejects.toBeInstanceOf(ApiError);
  });
});


describe('grid selection', () => {
  const order = ['a', 'b', 'c', 'd', 'e'];
  it('toggles on click, selects a range on shift-click, and selects the page', () => {
    let s = click(empty(), order, 1, false);
    expect([...s.ids]).toEqual(['b']);
    s = click(s, order, 3, true);
    expect([...s.ids].sort()).toEqual(['b', 'c', 'd']);
    s = click(s, order, 2, false);
    expect([...s.ids].sort()).toEqual(['b', 'd']);
    expect(selectAll(order).ids.size).toBe(5);
  });
});

describe('bulk actions', () => {
  it('counts successes, conflicts and other errors, and reports progress', async () => {
    const seen: number[] = [];
    const targets = ['1', '2', '3', '4'].map((id) => ({ id, version: 1, labels: [] }));
    const result = await runBulk(targets, async (t) => {
      if (t.id === '2') throw new ApiError('changed', 'CONFLICT');
      if (t.id === '4') throw new ApiError('boom', 'VALIDATION');
    }, (n) => seen.push(n), 2);
    expect(result).toEqual({ done: 2, conflicts: 1, errors: ['boom'] });
    expect(seen.sort()).toEqual([1, 2, 3, 4]);
  });
});

describe('roles and review', async () => {
  const { atLeast, roleLabel } = await import('./roles');
  const { dayRange } = await import('./review');
  it('ranks roles', () => {
    expect(atLeast('OWNER', 'REVIEWER')).toBe(true);
    expect(atLeast('ANNOTATOR', 'REVIEWER')).toBe(false);
    expect(atLeast(null, 'VIEWER')).toBe(false);
    expect(roleLabel('ANNOTATOR')).toBe('Annotator');
  });
  it('turns labelling days into an inclusive range', () => {
    expect(dayRange('', '')).toEqual({ after: null, before: null });
    expect(dayRange('2026-02-27', '2026-02-28')).toEqual({ after: '2026-02-27T00:00:00Z',
                                                           before: '2026-03-01T00:00:00.000Z' });
  });
  it('routes to the review view', () => {
    expect(parseRoute('#/projects/4/review')).toEqual({ name: 'review', id: '4' });
    expect(href({ name: 'review', id: '4' })).toBe('#/projects/4/review');
    expect(parseRoute('#/projects/4/review/adjudication')).toEqual({ name: 'review', id: '4', adjudication: true });
    expect(href({ name: 'review', id: '4', adjudication: true })).toBe('#/projects/4/review/adjudication');
    expect(parseRoute('#/projects/4/review/errors')).toEqual({ name: 'review', id: '4', errors: true });
    expect(href({ name: 'review', id: '4', errors: true })).toBe('#/projects/4/review/errors');
  });
});

describe('changedClasses', () => {
  it('gives the new list only when it differs', () => {
    const live = (...l: string[]) => l.map((label) => ({ label }));
    expect(changedClasses(['car', 'bike'], live('car', 'bike'))).toBeNull();
    expect(changedClasses(['car', 'bike'], live('automobile', 'bike'))).toEqual(['automobile', 'bike']);
    expect(changedClasses(['car', 'bike'], live('bike', 'car'))).toEqual(['bike', 'car']);
    expect(changedClasses(['car'], [])).toBeNull();
  });
});

describe('box quality filter', () => {
  it('turns a choice and its threshold into the API input, or no filter while the threshold is out of range', () => {
    expect(geometryInput({ kind: '', value: '' })).toBeNull();
    expect(geometryInput({ kind: 'small', value: '' })).toEqual({ smallerThanPx: 8 });
    expect(geometryInput({ kind: 'small', value: '12.4' })).toEqual({ smallerThanPx: 12 });
    expect(geometryInput({ kind: 'sliver', value: '1' })).toBeNull();
    expect(geometryInput({ kind: 'overlap', value: '0.5' })).toEqual({ overlapSameClass: 0.5 });
    expect(geometryInput({ kind: 'overlap', value: '2' })).toBeNull();
    expect(geometryInput({ kind: 'nested', value: '' })).toEqual({ nestedSameClass: true });
    expect(geometryInput({ kind: 'many', value: 'x' })).toBeNull();
    expect(geometryInput({ kind: 'many', value: '0' })).toEqual({ moreBoxesThan: 0 });
  });
});

describe('dates', () => {
  it('shows recent moments relatively and older ones in one absolute format', () => {
    const now = Date.parse('2026-12-07T12:00:00Z');
    expect(when('2026-12-07T11:59:30Z', now)).toBe('just now');
    expect(when('2026-12-07T11:15:00Z', now)).toBe('45 min ago');
    expect(when('2026-12-07T02:00:00Z', now)).toBe('10 h ago');
    expect(when('2026-12-06T10:00:00Z', now)).toBe('yesterday');
    expect(when('2026-12-03T10:00:00Z', now)).toBe('4 days ago');
    expect(when('2026-11-01T10:00:00Z', now)).toBe(absolute('2026-11-01T10:00:00Z'));
    expect(absolute('2026-11-01T10:00:00Z')).toMatch(/^\d{1,2} Nov 2026, \d\d:\d\d$/);
    expect(day('2026-12-24T00:00:00Z')).toMatch(/^2[34] Dec 2026$/);
    expect(when(null, now)).toBe('');
  });
});

describe('job results', () => {
  it('says a result in words, not field names', () => {
    expect(describeResult({ imagesFound: 14, samplesAdded: 2 })).toBe('14 images found · 2 added');
    expect(describeResult({ samplesTouched: 3, annotationsCreated: 1200, dryRun: true, errors: [] }))
      .toBe('3 images changed · 1,200 annotations created · dry run: nothing was written');
    expect(describeResult({ someNewCount: 5, dryRun: false })).toBe('5 some new count');
    expect(describeResult(null)).toBe('');
  });
});
