"""A model-based random test of the labelling view: seeded random key presses, box drawing, reloads and a second tab
in Chromium, checked after every step against a plain model of what the server must hold.

The model is written from the rules the README states, not from the client's code: navigation never changes a
label; moving on sends the open image's edit only if it differs from what is stored; Enter and a class key confirm;
S skips as stored (an unsent edit is dropped); undo goes back exactly; an edit made on an older version than the
server's meets a conflict. `run_model` returns how many actions ran and the first mismatch (with the seed and the
sequence that led to it), so a test can fail with it and `make bench` can count actions per mismatch.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page

from tests.e2e.conftest import Api

IMAGE_W, IMAGE_H = 320, 240
TOLERANCE = 0.01  # a mouse position is a whole page pixel: about 0.003 of the image here
CLASSES = ["car", "person", "bike"]

Box = tuple[str, float, float, float, float]
SAMPLES = """query($p: ID!){ project(id: $p){ samples(first: 100){ edges { node {
  id filename status version annotations { label isDraft box { x y w h } } } } } } }"""


@dataclass
class Stored:
    """What the server must hold for one image."""

    content: tuple  # classification: sorted labels; detection: boxes in the order stored
    status: str = "UNLABELED"
    version: int = 1


@dataclass
class Editor:
    """The open image's boxes, selection (one box or several; the last picked is the primary) and undo stacks, as the
    README's keyboard map describes them: a class key relabels and Delete deletes every selected box, as one step."""

    boxes: list[dict[str, Any]] = field(default_factory=list)
    selection: list[int] = field(default_factory=list)  # box ids, in the order picked
    past: list[list[dict[str, Any]]] = field(default_factory=list)
    future: list[list[dict[str, Any]]] = field(default_factory=list)
    next_id: int = 0

    @property
    def selected(self) -> int | None:
        return self.selection[-1] if self.selection else None

    @selected.setter
    def selected(self, box_id: int | None) -> None:
        self.selection = [] if box_id is None else [box_id]

    def load(self, boxes: tuple[Box, ...]) -> None:
        self.boxes = [self._new(b) for b in boxes]
        self.selected, self.past, self.future = None, [], []

    def _new(self, b: Box) -> dict[str, Any]:
        self.next_id += 1
        return {"id": self.next_id, "label": b[0], "x": b[1], "y": b[2], "w": b[3], "h": b[4]}

    def _commit(self, boxes: list[dict[str, Any]]) -> None:
        self.past.append(self.boxes)
        self.future = []
        self.boxes = boxes

    def add(self, box: Box) -> None:
        new = self._new(box)
        self._commit([*self.boxes, new])
        self.selected = new["id"]

    def relabel(self, label: str) -> None:
        chosen = set(self.selection)
        if any(b["id"] in chosen and b["label"] != label for b in self.boxes):
            self._commit([{**b, "label": label} if b["id"] in chosen else b for b in self.boxes])

    def remove(self) -> None:
        chosen = set(self.selection)
        self._commit([b for b in self.boxes if b["id"] not in chosen])
        self.selected = None

    def select_all(self) -> None:
        self.selection = [b["id"] for b in self.boxes]

    def cycle(self) -> None:
        if self.boxes:
            ids = [b["id"] for b in self.boxes]
            i = ids.index(self.selected) if self.selected in ids else -1
            self.selected = ids[(i + 1) % len(ids)]

    def undo(self) -> None:
        if self.past:
            self.future.append(self.boxes)
            self._restore(self.past.pop())

    def redo(self) -> None:
        if self.future:
            self.past.append(self.boxes)
            self._restore(self.future.pop())

    def _restore(self, boxes: list[dict[str, Any]]) -> None:
        self.boxes = boxes
        ids = {b["id"] for b in boxes}
        self.selection = [i for i in self.selection if i in ids]

    def content(self) -> tuple[Box, ...]:
        """The boxes in the list's order (the order Tab walks, as stored: a save keeps it)."""
        return tuple((b["label"], b["x"], b["y"], b["w"], b["h"]) for b in self.boxes)


@dataclass
class Model:
    """The server's images and the first tab's view of them."""

    task: str  # single | multi | detection
    ids: list[str]
    names: dict[str, str]
    server: dict[str, Stored]
    open: int = 0
    labels: list[str] = field(default_factory=list)  # classification: the open image's labels as shown
    editor: Editor = field(default_factory=Editor)
    sent: tuple = ()  # the open image's content as stored (or as sent)
    base: int = 1  # the version the open image's edit was made on
    draw_class: int = 0
    leased: str | None = None  # the sample claimNextSample leased to this user
    expect_conflict: bool = False
    pending_conflict: tuple[str, tuple] = ("", ())  # the image and content the user will be asked about

    @property
    def sid(self) -> str:
        return self.ids[self.open]

    @property
    def detection(self) -> bool:
        return self.task == "detection"

    def content(self) -> tuple:
        return self.editor.content() if self.detection else tuple(sorted(self.labels))

    @property
    def dirty(self) -> bool:
        return sorted(self.content()) != sorted(self.sent)

    def show(self, index: int, draft: tuple | None = None) -> None:
        self.open = index
        stored = self.server[self.sid]
        self.sent, self.base = stored.content, stored.version
        content = stored.content if draft is None else draft
        self.labels = list(content) if not self.detection else []
        self.editor.load(content if self.detection else ())

    def write(self, sid: str, content: tuple | None, status: str) -> None:
        """A real change: the server's content and status, one version up, any lease released."""
        stored = self.server[sid]
        new_content = stored.content if content is None else content
        if (sorted(new_content), status) == (sorted(stored.content), stored.status):
            return  # a save that changes nothing is not a change
        self.server[sid] = Stored(new_content, status, stored.version + 1)
        if self.leased == sid:
            self.leased = None

    def send(self, confirm: bool) -> None:
        stored = self.server[self.sid]
        if not (self.dirty or (confirm and stored.status != "LABELED")):
            return
        if self.base < stored.version and sorted(self.content()) == sorted(stored.content) \
                and stored.status == "LABELED":  # someone else already stored exactly this edit: nothing to ask
            self.sent, self.base = stored.content, stored.version
            return
        if self.base < stored.version:  # made on an older version: the user is asked (see resolve)
            self.expect_conflict = True
            self.pending_conflict = (self.sid, self.content())
            self.sent = self.content()
            return
        self.write(self.sid, self.content(), "LABELED")
        self.sent, self.base = self.content(), self.server[self.sid].version

    def step(self, direction: int) -> None:
        self.send(False)
        target = self.open + direction
        if 0 <= target < len(self.ids):
            self.show(target)


@dataclass
class Mismatch:
    seed: int
    step: int
    actions: list[str]
    what: str

    def __str__(self) -> str:
        last = self.actions[-1] if self.actions else "start"
        return (f"seed {self.seed}, at action {self.step} (after {last}): {self.what}\n"
                f"sequence: {' '.join(self.actions)}")


def _boxes_of(node: dict[str, Any]) -> tuple[Box, ...]:
    return tuple(sorted((a["label"], a["box"]["x"], a["box"]["y"], a["box"]["w"], a["box"]["h"])
                        for a in node["annotations"]))


def _same(model: tuple, got: tuple, detection: bool) -> bool:
    if not detection:
        return model == got
    if len(model) != len(got):
        return False
    return all(m[0] == g[0] and all(abs(a - b) < TOLERANCE for a, b in zip(m[1:], g[1:], strict=True))
               for m, g in zip(model, got, strict=True))


class Driver:
    """Presses keys in the first tab (and sometimes a second one) and compares the server with the model."""

    def __init__(self, browser: Browser, base: str, api: Api, project: dict[str, Any], task: str, seed: int) -> None:
        self.browser, self.base, self.api, self.task = browser, base, api, task
        self.pid = project["id"]
        self.rng = random.Random(seed)
        self.seed = seed
        self.actions: list[str] = []
        nodes = [e["node"] for e in api(SAMPLES, p=self.pid)["project"]["samples"]["edges"]]
        ids = [n["id"] for n in nodes]
        self.model = Model(task, ids, {n["id"]: n["filename"] for n in nodes},
                           {n["id"]: Stored(()) for n in nodes})
        self.context: BrowserContext | None = None
        self.page: Page | None = None

    # -- the browser side ------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.context = await self.browser.new_context(viewport={"width": 1280, "height": 720})
        self.page = await self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        await self.page.goto(f"{self.base}/#/projects/{self.pid}/label/{self.model.ids[0]}")
        await self._painted(self.page, self.model.ids[0])
        self.model.show(0)

    async def close(self) -> None:
        if self.context:
            await self.context.close()

    async def _painted(self, page: Page, sid: str) -> None:
        await page.wait_for_function("id => window.__cvxPaint && window.__cvxPaint.sampleId === id", arg=sid,
                                     timeout=15_000)

    async def _settled(self, page: Page) -> None:
        """Every key handled and every save answered (or a conflict waiting for the user)."""
        await page.wait_for_function("""() => {
            const v = document.querySelector('.label-view');
            const s = document.querySelector('.save-state')?.textContent ?? '';
            return v && v.getAttribute('aria-busy') !== 'true' && !s.includes('Saving');
        }""", timeout=15_000)

    async def _to_page(self, page: Page, x: float, y: float) -> tuple[float, float]:
        r = await page.get_by_label("image canvas").bounding_box()
        scale = min(4, (r["width"] - 24) / IMAGE_W, (r["height"] - 24) / IMAGE_H)
        left = r["x"] + (r["width"] - IMAGE_W * scale) / 2
        top = r["y"] + (r["height"] - IMAGE_H * scale) / 2
        return left + x * IMAGE_W * scale, top + y * IMAGE_H * scale

    async def _drag(self, page: Page, a: tuple[float, float], b: tuple[float, float]) -> None:
        await page.mouse.move(*await self._to_page(page, *a))
        await page.mouse.down()
        await page.mouse.move(*await self._to_page(page, *b), steps=4)
        await page.mouse.up()

    # -- actions -----------------------------------------------------------------------------------------------

    def _choices(self) -> list[tuple[str, float]]:
        m = self.model
        moves = [("prev", 3), ("next", 5), ("class", 5), ("enter", 2), ("skip", 1), ("claim", 1), ("reload", 0.7),
                 ("second_tab", 0.5), ("fast_reload", 0.3)]
        if m.detection:
            if m.editor.selected is not None:
                # arrows nudge a selected box
                moves = [(a, w) for a, w in moves if a not in ("prev", "next", "fast_reload")]
                moves += [("escape", 3), ("delete", 2)]
            moves += [("draw", 4), ("tab", 2), ("undo", 2), ("redo", 1)]
            if len(m.editor.boxes) > 1:
                moves += [("select_all", 3)]  # then a class key or Delete acts on the group, as one undo step
        return moves

    async def act(self) -> str:
        names, weights = zip(*self._choices(), strict=True)
        action = self.rng.choices(names, weights)[0]
        label = await getattr(self, f"_do_{action}")()
        return label or action

    async def _key(self, key: str) -> None:
        await self.page.keyboard.press(key)

    async def _do_prev(self) -> None:
        await self._key("ArrowLeft")
        self.model.step(-1)

    async def _do_next(self) -> None:
        await self._key("ArrowRight")
        self.model.step(1)

    async def _do_class(self) -> str:
        m = self.model
        k = self.rng.randrange(len(CLASSES))
        await self._key(str(k + 1))
        if m.detection:
            if m.editor.selected is not None:
                m.editor.relabel(CLASSES[k])
            else:
                m.draw_class = k
        elif m.task == "multi":
            m.labels = [x for x in m.labels if x != CLASSES[k]] if CLASSES[k] in m.labels else [*m.labels, CLASSES[k]]
        else:
            m.labels = [CLASSES[k]]
            m.send(True)
            m.step(1)
        return f"key{k + 1}"

    async def _do_enter(self) -> None:
        m = self.model
        await self._key("Enter")
        if m.task == "single" and not m.labels:
            return
        m.send(True)
        m.step(1)

    async def _do_skip(self) -> None:
        m = self.model
        await self._key("s")
        if m.dirty:
            m.show(m.open)  # the unsent edit is dropped
        m.write(m.sid, None, "SKIPPED")
        m.sent, m.base = m.server[m.sid].content, m.server[m.sid].version
        m.step(1)

    async def _do_claim(self) -> None:
        m = self.model
        await self._key("n")
        m.send(False)
        needs = [s for status in ("UNLABELED", "PRE_LABELED") for s in m.ids if m.server[s].status == status]
        target = m.leased if m.leased in needs else (needs[0] if needs else None)
        if target is None:
            return
        m.leased = target
        if target == m.sid:
            later = [s for s in needs if int(s) > int(m.sid)]
            target = later[0] if later else None
        if target is not None:
            m.show(m.ids.index(target))

    async def _do_escape(self) -> None:
        await self._key("Escape")
        self.model.editor.selected = None

    async def _do_delete(self) -> None:
        await self._key("Delete")
        self.model.editor.remove()

    async def _do_select_all(self) -> None:
        await self._key("Control+a")
        self.model.editor.select_all()

    async def _do_tab(self) -> None:
        await self._key("Tab")
        self.model.editor.cycle()

    async def _do_undo(self) -> None:
        await self._key("Control+z")
        self.model.editor.undo()

    async def _do_redo(self) -> None:
        await self._key("Control+Shift+z")
        self.model.editor.redo()

    def _free_spot(self, boxes: list[tuple[float, float, float, float]]) -> tuple[float, float] | None:
        """A point to start a drag on that is not on a box or near its handles (a drag there would move it)."""
        margin = 0.04
        for _ in range(20):
            x, y = round(self.rng.uniform(0.05, 0.6), 3), round(self.rng.uniform(0.05, 0.6), 3)
            if not any(bx - margin <= x <= bx + bw + margin and by - margin <= y <= by + bh + margin
                       for bx, by, bw, bh in boxes):
                return x, y
        return None

    async def _do_draw(self) -> str | None:
        m = self.model
        spot = self._free_spot([(b["x"], b["y"], b["w"], b["h"]) for b in m.editor.boxes])
        if spot is None:
            return "draw (no free spot)"
        x, y = spot
        w, h = round(self.rng.uniform(0.1, 0.35), 3), round(self.rng.uniform(0.1, 0.35), 3)
        await self._drag(self.page, (x, y), (x + w, y + h))
        m.editor.add((CLASSES[m.draw_class], x, y, w, h))
        return f"draw({x},{y},{w},{h})"

    async def _do_reload(self) -> None:
        m = self.model
        await self.page.reload()
        await self._painted(self.page, m.sid)
        draft = m.content() if m.dirty else None
        base, sent = m.base, m.sent
        m.show(m.open, draft)
        m.base, m.sent = base, sent
        m.draw_class = 0

    async def _do_fast_reload(self) -> str:
        """Moves on and reloads at once, before the save's answer can arrive: it is sent again after the reload,
        and must land exactly once."""
        m = self.model
        await self._key("ArrowRight")
        m.step(1)
        await self.page.wait_for_function("id => location.hash.endsWith('/' + id)", arg=m.sid)
        await self.page.reload()
        await self._painted(self.page, m.sid)
        m.show(m.open)
        m.draw_class = 0
        return "fast_reload"

    async def _do_second_tab(self) -> str:
        """The same person in a second tab labels another (or the same) image deliberately."""
        m = self.model
        index = self.rng.randrange(len(m.ids))
        sid = m.ids[index]
        page = await self.context.new_page()
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        await page.goto(f"{self.base}/#/projects/{self.pid}/label/{sid}")
        await self._painted(page, sid)
        k = self.rng.randrange(len(CLASSES))
        stored = m.server[sid]
        if m.task == "single":
            await page.keyboard.press(str(k + 1))
            content: tuple = (CLASSES[k],)
        elif m.task == "multi":
            await page.keyboard.press(str(k + 1))
            await page.keyboard.press("Enter")
            have = set(stored.content)
            content = tuple(sorted(have - {CLASSES[k]} if CLASSES[k] in have else have | {CLASSES[k]}))
        else:
            spot = self._free_spot([b[1:] for b in stored.content])
            if spot is None:
                await page.close()
                return "second_tab (no free spot)"
            x, y = spot
            await page.keyboard.press(str(k + 1))
            await self._drag(page, (x, y), (x + 0.15, y + 0.15))
            await page.keyboard.press("Enter")
            content = (*stored.content, (CLASSES[k], x, y, 0.15, 0.15))
        await self._settled(page)
        await page.close()
        was_open = sid == m.sid
        dirty = m.dirty
        before = m.server[sid].version
        m.write(sid, content, "LABELED")
        if m.server[sid].version == before:
            return f"second_tab({sid}, key{k + 1}, no change)"
        if was_open and not dirty:  # the first tab shows the news at once
            m.show(m.open)
            await self._until(lambda: self._ui_content_is(m.content()))
        elif was_open:
            await self.page.get_by_text("changed this image while you were editing").wait_for(timeout=10_000)
        else:
            await self.page.wait_for_timeout(300)  # the event reaches the first tab's cache
        return f"second_tab({sid}, key{k + 1})"

    async def _until(self, check: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not await check():
            if time.monotonic() > deadline:
                return
            await self.page.wait_for_timeout(50)

    async def _ui_content_is(self, content: tuple) -> bool:
        if self.model.detection:
            return await self.page.locator("section[aria-label=boxes] li").count() == len(content)
        chips = await self.page.locator(".labels-overlay .chip").all_text_contents()
        return tuple(sorted(chips)) == content

    async def _resolve_conflict(self) -> str | None:
        """A conflict the model predicted: keep mine or take theirs, at random."""
        m = self.model
        dialog = self.page.get_by_role("alertdialog")
        if not m.expect_conflict:
            if await dialog.is_visible():
                return f"a conflict dialog appeared that the model did not predict: {await dialog.text_content()}"
            return None
        await dialog.wait_for(timeout=10_000)
        sid, mine = m.pending_conflict
        keep = self.rng.random() < 0.5
        await dialog.get_by_role("button", name="Keep mine" if keep else "Take theirs").click()
        self.actions.append("keep_mine" if keep else "take_theirs")
        m.expect_conflict = False
        if keep:
            m.write(sid, mine, "LABELED")
            if sid == m.sid:
                m.sent, m.base = mine, m.server[sid].version
        elif sid == m.sid:
            m.show(m.open)
        await self._settled(self.page)
        return None

    # -- checking ----------------------------------------------------------------------------------------------

    async def check(self) -> str | None:
        m = self.model
        await self._settled(self.page)
        problem = await self._resolve_conflict()
        if problem:
            return problem
        if self.errors:
            return f"script error: {self.errors[0]}"
        shown = (await self.page.locator(".file").text_content() or "").strip()
        if shown != m.names[m.sid]:
            return f"the view shows {shown!r}, the model expects {m.names[m.sid]!r}"
        state = (await self.page.locator(".save-state").text_content() or "").strip()
        if ("Edited" in state) != m.dirty:
            return f"the header says {state!r} but the model's open image is {'edited' if m.dirty else 'unedited'}"
        if not await self._ui_content_is(m.content()):
            return f"the open image does not show {m.content()}"
        nodes = {e["node"]["id"]: e["node"] for e in self.api(SAMPLES, p=self.pid)["project"]["samples"]["edges"]}
        for sid, want in m.server.items():
            node = nodes[sid]
            got = _boxes_of(node) if m.detection else tuple(sorted(a["label"] for a in node["annotations"]))
            if not _same(tuple(sorted(want.content)), got, m.detection) or node["status"] != want.status \
                    or node["version"] != want.version:
                return (f"{m.names[sid]} (sample {sid}) holds {node['status']} v{node['version']} {got}; "
                        f"the model expects {want.status} v{want.version} {want.content}")
        return None


async def run_model(browser: Browser, base: str, api: Api, project: dict[str, Any], task: str, seed: int,
                    steps: int) -> tuple[int, Mismatch | None]:
    """Runs up to `steps` random actions; returns (actions run, the first mismatch or None)."""
    driver = Driver(browser, base, api, project, task, seed)
    await driver.start()
    try:
        for n in range(1, steps + 1):
            try:
                driver.actions.append(await driver.act())
                problem = await driver.check()
            except Exception as exc:  # a view that stops answering is a mismatch too, reported with its seed
                problem = f"action {n} raised {type(exc).__name__}: {str(exc).splitlines()[0]}"
            if problem:
                return n, Mismatch(seed, n, driver.actions, problem)
        return steps, None
    finally:
        await driver.close()
