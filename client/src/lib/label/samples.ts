// Samples for the labelling view: fetched a window at a time around the open one, kept in a cache, with their
// images downloaded and decoded ahead so moving to a neighbour paints at once.

import { keepDecoded } from '../canvas/bitmaps';
import { gql } from '../api/graphql';
import { newKey, type Ann } from '../canvas/boxes';
import type { Request } from './saver';

export type ImageLoader = (url: string, filename: string) => Promise<HTMLImageElement>;

/** Downloads and decodes an image in the browser (its pixels kept for the canvas: see canvas/bitmaps.ts). */
export const loadImage: ImageLoader = (url, filename) => new Promise<HTMLImageElement>((resolve, reject) => {
  const img = new Image();
  img.decoding = 'async';
  img.onload = () => keepDecoded(img).then(() => resolve(img), () => resolve(img));
  img.onerror = () => reject(new Error(`The image of ${filename} cannot be displayed.`));
  img.src = url;
});

export interface ApiAnnotation {
  id: string; label: string; kind: 'CLASSIFICATION' | 'BBOX'; box: { x: number; y: number; w: number; h: number } | null;
  isDraft: boolean; confidence: number | null; createdBy: string;
}

export interface SampleData {
  id: string; projectId: string; filename: string; status: string; version: number; width: number | null; height: number | null;
  imageUrl: string; labeledBy: string | null; lockedBy: string | null; annotations: ApiAnnotation[];
  reviewStatus: 'NONE' | 'ACCEPTED' | 'REJECTED'; reviewedBy: string | null; reviewComment: string | null;
  mySubmission: { annotations: ApiAnnotation[] } | null; // consensus labelling: the caller's own labels
}

export const SAMPLE_FIELDS = `id projectId filename status version width height imageUrl labeledBy lockedBy
  reviewStatus reviewedBy reviewComment annotations { id label kind box { x y w h } isDraft confidence createdBy }
  mySubmission { annotations { id label kind box { x y w h } isDraft confidence createdBy } }`;

const WINDOW = 6; // neighbours fetched on each side
const PREFETCH = 3; // images decoded ahead in the direction of travel
const IMAGES_KEPT = 16;

/** What the labeller edits: in a project with overlap their own submission once they saved one (nobody else's
 *  labels are ever shown to them), else the image's annotations. */
export function shownAnnotations(s: SampleData): ApiAnnotation[] {
  return s.mySubmission ? s.mySubmission.annotations : s.annotations;
}

export function boxesOf(s: SampleData): Ann[] {
  return shownAnnotations(s).filter((a) => a.kind === 'BBOX' && a.box).map((a) => ({
    key: newKey(), label: a.label, ...a.box!, draft: a.isDraft, confidence: a.confidence,
  }));
}

export function classesOf(s: SampleData): string[] {
  return shownAnnotations(s).filter((a) => a.kind === 'CLASSIFICATION').map((a) => a.label);
}

export class SampleStore {
  private byId = new Map<string, SampleData>();
  private order: string[] = []; // ids in id order, as far as known around the open sample
  private images = new Map<string, Promise<HTMLImageElement>>();
  total = 0;

  constructor(readonly projectId: string, private readonly request: Request = gql,
              private readonly load: ImageLoader = loadImage) {}

  get(id: string): SampleData | undefined { return this.byId.get(id); }

  put(s: SampleData): void { this.byId.set(s.id, s); }

  /** The sample, its position and its neighbours (one request), and its image decoding started. */
  async open(id: string): Promise<{ sample: SampleData | null; position: number }> {
    const data = await this.request(`query($p: ID!, $s: ID!, $c: String!, $n: Int!) { sample(id: $s) { ${SAMPLE_FIELDS} }
      project(id: $p) { samplePosition(sampleId: $s) stats { total }
        before: samples(before: $c, first: $n) { edges { node { ${SAMPLE_FIELDS} } } }
        after: samples(after: $c, first: $n) { edges { node { ${SAMPLE_FIELDS} } } } } }`,
      { p: this.projectId, s: id, c: id, n: WINDOW });
    if (!data.sample || !data.project) return { sample: null, position: 0 };
    const before: SampleData[] = data.project.before.edges.map((e: { node: SampleData }) => e.node);
    const after: SampleData[] = data.project.after.edges.map((e: { node: SampleData }) => e.node);
    for (const s of [...before, data.sample, ...after]) this.put(s);
    this.order = [...before, data.sample, ...after].map((s) => s.id);
    this.total = data.project.stats.total;
    this.image(data.sample);
    return { sample: data.sample, position: data.project.samplePosition };
  }

  /** The id next to `id` (+1 after, -1 before) if it is already known. */
  neighbour(id: string, direction: 1 | -1): string | null | undefined {
    const i = this.order.indexOf(id);
    if (i < 0) return undefined;
    const j = i + direction;
    if (j < 0 || j >= this.order.length) return undefined; // not fetched (or the end: open() will tell)
    return this.order[j];
  }

  /** Ids past the end of the known window are fetched when the window runs thin. */
  async extend(id: string, direction: 1 | -1): Promise<void> {
    const i = this.order.indexOf(id);
    if (i < 0) return;
    const edge = direction > 0 ? this.order[this.order.length - 1] : this.order[0];
    const left = direction > 0 ? this.order.length - 1 - i : i;
    if (left > PREFETCH) return;
    const arg = direction > 0 ? 'after' : 'before';
    const data = await this.request(`query($p: ID!, $c: String!, $n: Int!) { project(id: $p) {
      samples(${arg}: $c, first: $n) { edges { node { ${SAMPLE_FIELDS} } } } } }`,
      { p: this.projectId, c: edge, n: WINDOW * 2 });
    const page: SampleData[] = data.project.samples.edges.map((e: { node: SampleData }) => e.node);
    for (const s of page) if (!this.byId.has(s.id)) this.put(s);
    const ids = page.map((s) => s.id).filter((x) => !this.order.includes(x));
    this.order = direction > 0 ? [...this.order, ...ids] : [...ids, ...this.order];
  }

  /** Starts decoding the images of the next few samples in the direction of travel. */
  prefetch(id: string, direction: 1 | -1): void {
    let i = this.order.indexOf(id);
    for (let k = 0; k < PREFETCH && i >= 0; k++) {
      i += direction;
      const s = this.byId.get(this.order[i]);
      if (!s) break;
      this.image(s);
    }
  }

  /** The decoded image of a sample (cached; the newest IMAGES_KEPT stay). */
  image(s: SampleData): Promise<HTMLImageElement> {
    let p = this.images.get(s.imageUrl);
    if (p) {
      this.images.delete(s.imageUrl);
      this.images.set(s.imageUrl, p);
      return p;
    }
    p = this.load(s.imageUrl, s.filename);
    p.catch(() => this.images.delete(s.imageUrl));
    this.images.set(s.imageUrl, p);
    while (this.images.size > IMAGES_KEPT) this.images.delete(this.images.keys().next().value!);
    return p;
  }
}
