// The labelling view's controller, framework-free: which image is open, what the user changed on it, when that is
// sent, and what a colleague's change does to it. The page renders its fields and forwards keys; nothing here knows
// Svelte. The rules it keeps (README, "Labelling rules"; tests/e2e/test_label_model.py checks them on a real server):
// - Navigation never changes a label: moving on sends the open image's edit only when it differs from what the
//   server has; a key that confirms (Enter, a class key) sends it when the image is not yet labelled so.
// - A local draft belongs to exactly one image and tab, and is dropped as soon as the image is back to what the
//   server has, so an undone edit never comes back.
// - Every save names the version its edit was made on and the project it was made under: a colleague's newer save
//   gives a CONFLICT and an image of another project is refused, never overwritten.
// - Key presses are handled one after another in the order they came, navigation included.

import { ApiError, gql } from '../api/graphql';
import { toInput, type Ann } from '../canvas/boxes';
import { BoxEditor } from '../canvas/editor';
import { Drafts, type Edit } from './drafts';
import { resolveBindings, type Bindings, type KeyMap } from './bindings';
import type { Command } from './keys';
import { boxesOf, classesOf, SampleStore, SAMPLE_FIELDS, type SampleData } from './samples';
import { Saver, type Change, type Conflict, type Pending, type Request } from './saver';
import { otherOpenTabs, tabId } from './tabs';

export interface ProjectInfo { id: string; name: string; taskType: string; multiLabel: boolean; classes: string[] }

export interface SessionHooks {
  changed(): void;                  // something the page shows changed
  opened(sample: SampleData): void; // an image was opened (or reopened with newer data)
  say(text: string): void;          // a short notice
}

export interface SessionDeps { request?: Request; storage?: Storage; tab?: string; store?: SampleStore }

const boxKey = (b: Ann[]) => JSON.stringify(b.map((x) => [x.label, x.x, x.y, x.w, x.h, !!x.draft]));
const labelKey = (l: string[]) => JSON.stringify([...l].sort());

function editOf(change: Change, keyPrefix: string): Edit | null {
  if (change.kind === 'classes') return { kind: 'classes', labels: [...change.labels] };
  if (change.kind === 'boxes') {
    return { kind: 'boxes', boxes: change.boxes.map((b, i) => ({ ...b.box, label: b.label, key: `${keyPrefix}${i}` })) };
  }
  return null;
}

export class LabelSession {
  project: ProjectInfo | null = null;
  sample: SampleData | null = null;
  labels: string[] = []; // classification: the labels shown for the open image
  position = 0;
  total = 0;
  drawClass = 0;
  saving = false;
  saveError = '';
  banner = '';
  fatal = '';
  fatalLink: { href: string; text: string } | null = null;
  conflict: Conflict | null = null;
  queueOrder = 'ID'; // which image N opens: ID or LEAST_CONFIDENT
  afterSave: 'ORDER' | 'NEEDS_WORK' = 'ORDER'; // where a save (Enter, a class key, the none key) goes next
  bindings: Bindings = resolveBindings([], []);
  private keyMaps: (KeyMap | null)[] = []; // the project owner's, then the user's own
  readonly editor: BoxEditor;
  readonly store: SampleStore;
  private readonly saver: Saver;
  private readonly drafts: Drafts;
  private readonly request: Request;
  private readonly tab: string;
  private sentKey = '';    // the open image as the server has it, or will once its queued change lands
  private baseVersion = 0; // the server version the open image's edit was made on
  private loading = false;
  private previousBoxes: Ann[] = [];
  private clipboard: Ann[] = [];
  private work: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(readonly projectId: string, private readonly hooks: SessionHooks, deps: SessionDeps = {}) {
    this.request = deps.request ?? gql;
    const storage = deps.storage ?? localStorage;
    const tab = this.tab = deps.tab ?? tabId();
    this.store = deps.store ?? new SampleStore(projectId, this.request);
    this.editor = new BoxEditor(() => this.edited());
    this.drafts = new Drafts(projectId, tab, storage);
    this.saver = new Saver(projectId, tab, {
      saved: (s, p) => this.onSaved(s, p),
      conflict: (c) => { this.conflict = c; this.saving = this.saver.busy; this.hooks.changed(); },
      failed: (message) => { this.saveError = message; this.saving = this.saver.busy; this.hooks.changed(); },
      idle: () => { this.saving = false; this.hooks.changed(); },
    }, storage, this.request);
  }

  get detection(): boolean { return this.project?.taskType === 'DETECTION'; }

  /** Whether the open image shows something other than what the server has (or will have). */
  get dirty(): boolean {
    return !!this.sample && this.currentKey() !== this.sentKey;
  }

  /** True while key presses are still being worked through (navigation waiting for the server). */
  get busy(): boolean { return this.queued > 0; }

  /** Takes over unsaved work of closed tabs, sends what a reload interrupted, and opens the first image. */
  async start(project: ProjectInfo, sampleId: string | null, openTabs?: Set<string>): Promise<void> {
    this.project = project;
    this.bindings = resolveBindings(project.classes, this.keyMaps);
    const others = openTabs ?? await otherOpenTabs(this.tab);
    this.drafts.adopt(others);
    this.saver.adopt(others);
    if (this.saver.busy) { this.saving = true; void this.saver.pump(); }
    await this.run(() => (sampleId ? this.open(sampleId, 0) : this.nextNeedingWork()));
  }

  /** Runs a command after every earlier one has finished, so keys act in the order they were pressed. */
  run(task: () => unknown): Promise<void> {
    this.queued += 1;
    this.hooks.changed();
    this.work = this.work.then(task).then(() => undefined, (e) => this.hooks.say((e as Error).message))
      .finally(() => { this.queued -= 1; this.hooks.changed(); });
    return this.work;
  }

  /** A key's command, in order after the earlier ones. `nudge` arrives in image units. */
  command(cmd: Command): Promise<void> {
    return this.run(() => this.execute(cmd));
  }

  private execute(cmd: Command): unknown {
    if (!this.sample || this.fatal) return;
    const e = this.editor;
    const sel = e.selected;
    switch (cmd.kind) {
      case 'class': return this.pick(cmd.index);
      case 'none': return this.saveNone();
      case 'selectAll': e.selectAll(); return;
      case 'prev': return this.step(-1);
      case 'next': return this.step(1);
      case 'nextNeedingWork': return this.nextNeedingWork();
      case 'saveNext': return this.saveAndNext();
      case 'skip': return this.skip();
      case 'delete': e.removeSelected(); return;
      case 'deselect': e.select(null); return;
      case 'cycle': e.cycle(cmd.direction); return;
      case 'nudge': e.nudgeSelected(cmd.dx, cmd.dy); return;
      case 'undo': if (!e.undo()) this.hooks.say('Nothing to undo.'); return;
      case 'redo': if (!e.redo()) this.hooks.say('Nothing to redo.'); return;
      case 'copy':
        this.clipboard = sel ? e.selectedBoxes : e.boxes;
        this.hooks.say(`Copied ${this.clipboard.length} box${this.clipboard.length === 1 ? '' : 'es'}.`);
        return;
      case 'paste': if (this.detection) this.hooks.say(`Pasted ${e.paste(this.clipboard)} boxes.`); return;
      case 'copyPrevious':
        if (this.detection) this.hooks.say(`Brought over ${e.paste(this.previousBoxes)} boxes from the previous image.`);
        return;
      case 'acceptDrafts': this.hooks.say(`Accepted ${e.accept(sel ? e.selection : null)} draft(s).`); return;
      case 'rejectDrafts': this.hooks.say(`Rejected ${e.reject(sel ? e.selection : null)} draft(s).`); return;
      case 'suggest': return this.suggest();
    }
  }

  // -- the open image ----------------------------------------------------------------------------------------

  private currentKey(): string {
    return this.detection ? boxKey(this.editor.boxes) : labelKey(this.labels);
  }

  private currentEdit(): Edit {
    return this.detection ? { kind: 'boxes', boxes: this.editor.boxes } : { kind: 'classes', labels: [...this.labels] };
  }

  private currentChange(): Change {
    return this.detection ? { kind: 'boxes', boxes: toInput(this.editor.boxes) }
      : { kind: 'classes', labels: [...this.labels] };
  }

  /** After every edit of the open image: keep it on this device while it differs from the server, else forget it. */
  private edited(): void {
    if (this.loading || !this.sample) return;
    if (this.dirty) this.drafts.keep(this.sample.id, this.baseVersion, this.currentEdit());
    else this.drafts.drop(this.sample.id);
    this.hooks.changed();
  }

  /** Shows a sample: this tab's unsaved or unsent edit of it wins over what the server has. */
  private show(s: SampleData): void {
    if (this.sample && this.sample.id !== s.id) this.previousBoxes = this.editor.boxes;
    const pending = this.saver.pendingFor(s.id);
    const sent = pending && editOf(pending.change, 'p');
    const draft = this.drafts.get(s.id);
    const local = draft?.edit ?? sent;
    this.loading = true;
    try {
      this.sample = s;
      this.banner = '';
      this.baseVersion = draft?.baseVersion ?? pending?.baseVersion ?? s.version;
      const serverBoxes = boxesOf(s);
      const sentBoxes = sent?.kind === 'boxes' ? sent.boxes : serverBoxes;
      const sentLabels = sent?.kind === 'classes' ? sent.labels : classesOf(s);
      this.sentKey = this.detection ? boxKey(sentBoxes) : labelKey(sentLabels);
      this.labels = local?.kind === 'classes' ? [...local.labels] : sentLabels;
      this.editor.load(local?.kind === 'boxes' ? local.boxes.map((b) => ({ ...b })) : sentBoxes);
    } finally {
      this.loading = false;
    }
    if (draft && !this.dirty) this.drafts.drop(s.id);
    else if (draft) {
      this.hooks.say('Restored your unsaved edits of this image.');
      if (draft.baseVersion < s.version) {
        this.banner = `${s.labeledBy ?? 'Someone'} saved this image after you started editing it; saving will ask ` +
                      'whose version to keep.';
      }
    }
    this.hooks.opened(s);
    this.hooks.changed();
  }

  /** Sends the open image's edit if it is due: it differs from what the server has, or `confirm` (Enter, a class
   * key) on an image that is not yet a confirmed label (unlabelled, pre-labelled, skipped) or was rejected. */
  private send(confirm: boolean): boolean {
    const s = this.sample;
    if (!s) return false;
    const due = this.dirty || (confirm && (s.status !== 'LABELED' || s.reviewStatus === 'REJECTED'));
    if (!due) return false;
    this.saver.save(s.id, this.baseVersion, this.currentChange());
    this.drafts.drop(s.id);
    this.sentKey = this.currentKey();
    this.sample = { ...s, status: 'LABELED' }; // what the server will say; its answer replaces it
    this.saving = true;
    this.saveError = '';
    return true;
  }

  /** Leaving the view: the open image's edit is sent (the saver finishes in the background). */
  leave(): void {
    this.send(false);
  }

  private onSaved(s: SampleData, p: Pending): void {
    const known = this.store.get(s.id);
    if (!known || known.version <= s.version) this.store.put(s);
    if (this.sample?.id === s.id) {
      const { version, status, labeledBy, reviewStatus, reviewedBy, reviewComment, annotations, mySubmission } = s;
      this.sample = { ...this.sample, version, status, labeledBy, reviewStatus, reviewedBy, reviewComment, annotations,
                      mySubmission };
      if (this.baseVersion <= p.baseVersion) this.baseVersion = version; // edits from now on build on the saved one
      if (this.dirty) this.drafts.keep(s.id, this.baseVersion, this.currentEdit());
    }
    this.saving = this.saver.busy;
    this.saveError = '';
    this.hooks.changed();
  }

  // -- commands ----------------------------------------------------------------------------------------------

  private pick(index: number): unknown {
    const p = this.project;
    if (!p || index >= p.classes.length) return;
    const name = p.classes[index];
    if (this.detection) {
      if (this.editor.selection.length) {
        const n = this.editor.relabelSelected(name);
        if (this.editor.selection.length > 1) this.hooks.say(`Relabelled ${n} box${n === 1 ? '' : 'es'} as ${name}.`);
      } else { this.drawClass = index; this.hooks.changed(); }
      return;
    }
    if (p.multiLabel) {
      this.labels = this.labels.includes(name) ? this.labels.filter((l) => l !== name) : [...this.labels, name];
      this.edited();
      return;
    }
    this.labels = [name];
    this.edited();
    this.send(true);
    return this.advance();
  }

  /** After a save: the next image in order, or the next one that needs work (the user's "After saving" choice). */
  private advance(): Promise<void> {
    return this.afterSave === 'NEEDS_WORK' ? this.nextNeedingWork() : this.step(1);
  }

  /** The "none of these / no objects" key: the image is saved with no labels or boxes, then the next one. */
  private saveNone(): unknown {
    const p = this.project;
    if (!this.sample || !p) return;
    if (!this.detection && !p.multiLabel) {
      this.hooks.say('A single-label image takes exactly one class: pick one, or skip with S.');
      return;
    }
    if (this.detection) this.editor.clear();
    else { this.labels = []; this.edited(); }
    this.send(true);
    this.hooks.say(this.detection ? 'Saved as “no objects”.' : 'Saved as “none of these”.');
    return this.advance();
  }

  private saveAndNext(): unknown {
    const p = this.project;
    if (!this.sample || !p) return;
    if (!this.detection && !p.multiLabel && !this.labels.length) {
      this.hooks.say('Pick a class first (its key is beside it), or skip with S.');
      return;
    }
    const none = !this.detection && !this.labels.length;
    if (this.send(true) && none) this.hooks.say('Saved as “none of these”.');
    return this.advance();
  }

  /** S: the image is skipped as the server has it; an edit not yet sent is dropped (and the notice says so). */
  private skip(): unknown {
    const s = this.sample;
    if (!s) return;
    const dropped = this.dirty;
    this.drafts.drop(s.id);
    if (dropped) this.show(this.store.get(s.id) ?? s); // back to what the server has (a change already sent stays)
    const open = this.sample ?? s;
    if (open.status !== 'SKIPPED' || this.saver.pendingFor(s.id)) {
      this.saver.save(s.id, this.baseVersion, { kind: 'skip' });
      this.sample = { ...open, status: 'SKIPPED' };
      this.saving = true;
    }
    if (dropped) this.hooks.say('Skipped. Your unsaved edit of this image was dropped.');
    return this.step(1);
  }

  private async step(direction: 1 | -1): Promise<void> {
    const s = this.sample;
    if (!s) return;
    this.send(false);
    let next = this.store.neighbour(s.id, direction);
    if (next === undefined) {
      await this.store.extend(s.id, direction);
      next = this.store.neighbour(s.id, direction);
    }
    if (!next) { this.hooks.say(direction > 0 ? 'This is the last image.' : 'This is the first image.'); return; }
    await this.open(next, direction);
  }

  /** Opens a sample (a neighbour from the cache, anything else fresh from the server). */
  async open(sid: string, direction: 1 | -1 | 0): Promise<void> {
    const cached = direction !== 0 ? this.store.get(sid) : undefined;
    if (cached) {
      this.position += direction;
      this.show(cached);
    } else {
      const { sample, position } = await this.store.open(sid);
      if (!sample) { this.fail(`Image ${sid} does not exist in this project.`); return; }
      if (sample.projectId !== this.projectId) {
        this.fail(`Image ${sid} (${sample.filename}) belongs to another project, not to this one.`,
                  { href: `#/projects/${sample.projectId}/label/${sid}`, text: 'Open it in its own project' });
        return;
      }
      this.position = position;
      this.total = Math.max(this.total, this.store.total);
      this.show(sample);
    }
    const d = direction === 0 ? 1 : direction;
    void this.store.extend(sid, d).then(() => this.store.prefetch(sid, d), () => undefined);
    this.store.prefetch(sid, d);
  }

  private fail(message: string, link: { href: string; text: string } | null = null): void {
    this.fatal = message;
    this.fatalLink = link;
    this.hooks.changed();
  }

  private async nextNeedingWork(): Promise<void> {
    this.send(false);
    await this.saver.settled();
    try {
      const claimed = (await this.request(`mutation($p: ID!, $o: SampleOrder){ claimNextSample(projectId: $p,
        order: $o){ id } }`, { p: this.projectId, o: this.queueOrder })).claimNextSample;
      let target: string | null = claimed?.id ?? null;
      if (target && target === this.sample?.id) {
        const after = await this.request(`query($p: ID!, $a: String){ u: project(id: $p){ samples(status: UNLABELED,
          after: $a, first: 1){ edges { node { id } } } } p: project(id: $p){ samples(status: PRE_LABELED, after: $a,
          first: 1){ edges { node { id } } } } }`, { p: this.projectId, a: this.sample.id });
        target = after.u.samples.edges[0]?.node.id ?? after.p.samples.edges[0]?.node.id ?? null;
      }
      if (!target) {
        if (!this.sample) this.fail('Nothing left to label in this project: every image is labelled or skipped.');
        else this.hooks.say('Nothing else needs work.');
        return;
      }
      await this.open(target, 0);
    } catch (e) { this.hooks.say((e as Error).message); }
  }

  /** Opens the image at a 1-based position (the scrubber). */
  jump(to: number): Promise<void> {
    return this.run(async () => {
      this.send(false);
      const s = (await this.request(`query($p: ID!, $n: Int!){ project(id: $p){ sampleAt(position: $n){ id } } }`,
                                    { p: this.projectId, n: to })).project.sampleAt;
      if (s) await this.open(s.id, 0);
    });
  }

  private async suggest(): Promise<void> {
    const asked = this.sample;
    if (!asked) return;
    this.hooks.say('Asking the model…');
    try {
      const s: SampleData = (await this.request(`mutation($s: ID!){ suggestAnnotations(sampleId: $s){
        ${SAMPLE_FIELDS} } }`, { s: asked.id })).suggestAnnotations;
      this.store.put(s);
      if (this.sample?.id !== asked.id) return;
      this.sample = { ...this.sample, version: s.version, status: s.status, annotations: s.annotations };
      const drafts = boxesOf(s).filter((b) => b.draft);
      if (this.detection) {
        const edited = this.dirty;
        this.baseVersion = s.version; // the drafts are on the server now
        this.editor.replaceDrafts(drafts);
        if (!edited) { this.sentKey = this.currentKey(); this.drafts.drop(s.id); }
      }
      const n = s.annotations.filter((a) => a.isDraft).length;
      this.hooks.say(n ? `The model suggests ${n}: A accepts, X rejects.` : 'The model has no suggestion for this image.');
    } catch (e) { this.hooks.say((e as ApiError).message); }
    this.hooks.changed();
  }

  // -- colleagues --------------------------------------------------------------------------------------------

  /** A live `sampleChanged` event. Our own save's echo is recognised by its version (or by the save still being
   * queued here, which will meet a CONFLICT if a colleague's is newer); an open, unedited image shows the news. */
  remoteChanged(s: SampleData): void {
    const known = this.store.get(s.id);
    if (!known || known.version >= s.version || this.saver.pendingFor(s.id)) return;
    this.store.put(s);
    if (this.sample?.id !== s.id) return;
    if (this.dirty) {
      this.banner = `${s.labeledBy ?? 'Someone'} changed this image while you were editing it.`;
      this.hooks.changed();
    } else {
      this.show(s);
    }
  }

  /** The banner's "Show their version": drop this tab's edit of the open image. */
  reloadChanged(): void {
    const s = this.sample && this.store.get(this.sample.id);
    if (!s) return;
    this.drafts.drop(s.id);
    this.sentKey = '';
    this.show(s);
  }

  dismissBanner(): void {
    this.banner = '';
    this.hooks.changed();
  }

  resolveConflict(keepMine: boolean): void {
    const c = this.conflict;
    if (!c) return;
    this.conflict = null;
    this.store.put(c.theirs);
    const open = this.sample?.id === c.theirs.id;
    if (keepMine) {
      this.saver.keepMine(c);
      this.saving = true;
      if (open && this.sample) {
        this.sample = { ...this.sample, version: c.theirs.version };
        this.baseVersion = c.theirs.version;
      }
    } else {
      this.saver.discard(c.pending.sampleId);
      this.drafts.drop(c.pending.sampleId);
      if (open) this.show(c.theirs);
    }
    this.hooks.changed();
  }

  /** Live stats: totals and the class list (an owner renamed or reordered classes: the keys follow). */
  setTotals(total: number): void {
    this.total = total;
  }

  setClasses(classes: string[]): void {
    if (this.project) this.project = { ...this.project, classes };
    this.bindings = resolveBindings(classes, this.keyMaps);
    this.hooks.changed();
  }

  /** The key maps in force: the project owner's default, then the user's own override. */
  setKeyMaps(owner: KeyMap | null, mine: KeyMap | null): void {
    this.keyMaps = [owner, mine];
    this.bindings = resolveBindings(this.project?.classes ?? [], this.keyMaps);
    this.hooks.changed();
  }
}
