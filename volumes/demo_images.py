"""Demo photographs made offline from scikit-image's bundled samples: real photos, and scenes composed of their
objects with known boxes. Used by `python server.py demo` and by tests that want realistic images."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

DEMO_CLASSES = ["cat", "cup", "rocket", "motorcycle", "person"]

# Where each object sits in its source photo (pixels, left, top, right, bottom), checked by eye.
_OBJECTS = {
    "cat": ("chelsea", (40, 0, 400, 300)),
    "cup": ("coffee", (90, 40, 470, 350)),
    "rocket": ("rocket", (300, 120, 345, 410)),
    "motorcycle": ("motorcycle", (80, 90, 690, 455)),
    "person": ("astronaut", (20, 15, 400, 512)),
}
_FOLDERS = {"cat": "animals", "cup": "tabletop", "rocket": "space", "motorcycle": "street", "person": "street"}
_BACKGROUNDS = ["hubble_deep_field", "grass", "gravel", "brick"]  # no demo class appears in these


Box = tuple[str, float, float, float, float]  # label, x, y, w, h (0..1)

@dataclass
class DemoImage:
    relative_path: str
    width: int
    height: int
    objects: list[Box] = field(default_factory=list)


def _photo(name: str) -> Image.Image:
    from skimage import data  # imported late: only the demo needs scikit-image

    arr = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()  # type: ignore[no-untyped-call]  # scikit-image is untyped
    return Image.fromarray(arr).convert("RGB")


def _jitter(im: Image.Image, rng: random.Random) -> Image.Image:
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.8, 1.2))
    im = ImageEnhance.Color(im).enhance(rng.uniform(0.7, 1.3))
    return ImageEnhance.Contrast(im).enhance(rng.uniform(0.85, 1.15))


def _photo_variant(label: str, photos: dict[str, Image.Image], rng: random.Random) -> tuple[Image.Image, list[Box]]:
    """The object's own photo, randomly cropped around it, maybe mirrored, with the object's box."""
    src, (left, top, right, bottom) = _OBJECTS[label]
    im = photos[src]
    cl, ct = rng.randint(0, max(0, left)), rng.randint(0, max(0, top))
    cr, cb = rng.randint(min(im.width, right), im.width), rng.randint(min(im.height, bottom), im.height)
    im = _jitter(im.crop((cl, ct, cr, cb)), rng)
    box = [left - cl, top - ct, right - cl, bottom - ct]
    if rng.random() < 0.5:
        im = ImageOps.mirror(im)
        box = [im.width - box[2], box[1], im.width - box[0], box[3]]
    scale = rng.uniform(1.1, 1.6)
    im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
    return im, [(label, box[0] / (cr - cl), box[1] / (cb - ct), (box[2] - box[0]) / (cr - cl),
                 (box[3] - box[1]) / (cb - ct))]


def _scene(labels: list[str], photos: dict[str, Image.Image], rng: random.Random) -> tuple[Image.Image, list[Box]]:
    """Objects cut from their photos and set into another photo, without overlaps, with their boxes."""
    bg = photos[rng.choice(_BACKGROUNDS)]
    w, h = 960, 640
    scene = ImageOps.fit(bg, (w, h), Image.Resampling.LANCZOS).filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2)))
    corner = bg.getpixel((0, 0)) if bg.mode == "RGB" else None
    if isinstance(corner, tuple) and corner[0] == corner[1] == corner[2]:
        scene = ImageOps.colorize(scene.convert("L"), black=(rng.randint(10, 60),) * 3,
                                  white=tuple(rng.randint(150, 255) for _ in range(3)))  # tint grey textures
    scene = _jitter(scene, rng)
    placed: list[tuple[int, int, int, int]] = []
    objects = []
    for label in labels:
        src, crop = _OBJECTS[label]
        obj = _jitter(photos[src].crop(crop), rng)
        if rng.random() < 0.5:
            obj = ImageOps.mirror(obj)
        target = rng.uniform(0.22, 0.42) * h
        scale = target / max(obj.width, obj.height) * rng.uniform(1.0, 1.5)
        size = (max(8, round(obj.width * scale)), max(8, round(obj.height * scale)))
        obj = obj.resize(size, Image.Resampling.LANCZOS)
        for _ in range(40):
            x, y = rng.randint(0, w - obj.width), rng.randint(0, h - obj.height)
            rect = (x, y, x + obj.width, y + obj.height)
            if all(rect[2] <= p[0] or rect[0] >= p[2] or rect[3] <= p[1] or rect[1] >= p[3] for p in placed):
                break
        else:
            continue
        placed.append(rect)
        scene.paste(obj, (x, y))
        objects.append((label, x / w, y / h, obj.width / w, obj.height / h))
    return scene, objects


def write_demo_images(folder: Path, count: int = 60, seed: int = 7) -> list[DemoImage]:
    """Write `count` JPEGs under folder (sub-folders by theme, one with a rotated EXIF orientation, and every
    twentieth a smaller re-encoded copy of an earlier image: a near-duplicate)."""
    rng = random.Random(seed)
    photos = {name: _photo(name) for name in {*(s for s, _ in _OBJECTS.values()), *_BACKGROUNDS}}
    out: list[DemoImage] = []
    for i in range(count):
        if i % 20 == 19:  # a smaller, re-encoded copy of an earlier image: near-duplicates for Find duplicates to find
            original = out[i - 5]
            with Image.open(folder / original.relative_path) as src:
                im = src.resize((src.width * 3 // 4, src.height * 3 // 4), Image.Resampling.LANCZOS)
            rel = original.relative_path.replace(".jpg", "_small.jpg")
            im.save(folder / rel, "JPEG", quality=75)
            out.append(DemoImage(rel, im.width, im.height, original.objects))
            continue
        if i % 3 == 0:
            label = DEMO_CLASSES[(i // 3) % len(DEMO_CLASSES)]
            im, objects = _photo_variant(label, photos, rng)
            rel = f"{_FOLDERS[label]}/{label}_{i:03}.jpg"
        else:
            labels = rng.sample(DEMO_CLASSES, rng.randint(1, 4))
            im, objects = _scene(labels, photos, rng)
            rel = f"scenes/scene_{i:03}.jpg"
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if i == 1:  # stored sideways with EXIF orientation 6: shown upright, boxes are for the upright image
            exif = Image.Exif()
            exif[0x0112] = 6
            im.rotate(90, expand=True).save(path, "JPEG", quality=88, exif=exif.tobytes())
        else:
            im.save(path, "JPEG", quality=88)
        out.append(DemoImage(rel, im.width, im.height, objects))
    return out
