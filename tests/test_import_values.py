"""Only well-typed values get in: the shared checks (jobs/formats/values.py) and every reader using them. Booleans and
strings are not numbers, ids are whole numbers, NUL is refused; each is a row error naming the field, never
"Unexpected error", and a job with one is recorded as FAILED on both databases."""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from jobs.formats import Limits, Parsed, coco, jsonl, values, yolo
from jobs.formats.reading import Budget, metered
from tests.conftest import create_project, gql, make_images, wait_for_job

IMPORT = """mutation($p: ID!, $i: ImportInput!){ importAnnotations(projectId: $p, input: $i){ id } }"""
EXPORTS = "/Volumes/test/cvx/exports"
LIMITS = Limits()


# -- the shared checks -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 1, -2, 0.5, 1e-300, 10**20])
def test_a_number_is_an_int_or_a_float(value: Any) -> None:
    assert values.number(value, "x") == float(value)


@pytest.mark.parametrize(("value", "said"), [
    (True, "not true"), (False, "not false"), ("0.1", 'not a string ("\'0.1\'")'), (None, "not null"),
    ([1], "not a list"), ({"a": 1}, "not an object"), (math.inf, "finite"), (math.nan, "finite"),
    (10**400, "finite")])
def test_anything_else_is_not_a_number(value: Any, said: str) -> None:
    with pytest.raises(ValueError, match=r"bbox\.x must be a") as exc:
        values.number(value, "bbox.x")
    assert said.replace('"', "").replace("'", "") in str(exc.value).replace('"', "").replace("'", "")


def test_a_box_is_four_numbers() -> None:
    assert values.box([1, 2.5, 3, 4], "bbox") == (1.0, 2.5, 3.0, 4.0)
    for bad, field in [([True, 10, 100, 50], "bbox[0]"), ([1, 2, "3", 4], "bbox[2]"), ([1, 2, 3, math.inf], "bbox[3]"),
                       ([1, 2, 3], "bbox must be a list of 4"), ("[1,2,3,4]", "bbox must be a list of 4"),
                       ([1, 2, 3, 4, 5], "bbox must be a list of 4")]:
        with pytest.raises(ValueError, match=field.replace("[", r"\[")):
            values.box(bad, "bbox")
    assert values.xywh({"x": 0, "y": 0.5, "w": 1, "h": 0.25}, "b") == (0.0, 0.5, 1.0, 0.25)
    with pytest.raises(ValueError, match=r"b\.x must be a number, not false"):
        values.xywh({"x": False, "y": 0, "w": 1, "h": 1}, "b")


def test_ids_are_whole_numbers_and_text_has_no_nul() -> None:
    assert values.whole(7, "id") == 7 and values.ident("a7", "id") == "a7" and values.ident(3, "id") == 3
    for bad in (True, 7.0, "7", [7], {"id": 7}, None):
        with pytest.raises(ValueError, match="id must be a whole number"):
            values.whole(bad, "id")
    for bad in ([7], {"id": 7}, False, 1.5):
        with pytest.raises(ValueError, match="id must be a whole number"):
            values.ident(bad, "id")
    assert values.text("cat", "label") == "cat"
    for bad in ("c\x00t", "c\ud800t"):
        with pytest.raises(ValueError, match="label contains a NUL character"):
            values.text(bad, "label")
    with pytest.raises(ValueError, match="label must be a string, not 3"):
        values.text(3, "label")
    assert values.shown("a\x00b\ud800") == "a\\x00b\\ud800"


@pytest.mark.parametrize("token", ["0", "0.5", "1.", ".5", "-1e-3", "+2", "1E5"])
def test_numbers_in_text_are_plain_decimals(token: str) -> None:
    assert values.number_text(token, "cx") == float(token)


@pytest.mark.parametrize("token", ["nan", "NaN", "inf", "-Infinity", "1_000", " 1", "0x1", "\uff11", "1e999", "", "1,5",
                                   "--1", "e5"])
def test_float_would_take_these_but_they_are_refused(token: str) -> None:
    with pytest.raises(ValueError, match="cx must be a"):
        values.number_text(token, "cx")


def test_class_indices_are_digits() -> None:
    assert values.whole_text("12", "class") == 12
    for token in ("1.0", "-1", "+1", "\u0661", "9" * 19, "1e2"):
        with pytest.raises(ValueError, match="class must be a whole number"):
            values.whole_text(token, "class")


# -- every reader ----------------------------------------------------------------------------------------------

def _coco(**change: Any) -> bytes:
    doc: dict[str, Any] = {"images": [{"id": 1, "file_name": "a.jpg", "width": 200, "height": 100}],
                           "categories": [{"id": 3, "name": "cat"}],
                           "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [20, 10, 50, 40]}]}
    for path, value in change.items():
        section, index, key = path.split("__")
        doc[section][int(index)][key] = value
    return json.dumps(doc).encode()


def _reasons(parsed: Parsed) -> list[str]:
    return [e.reason for e in parsed.errors.listed()]


def test_coco_takes_well_typed_values() -> None:
    parsed = coco.read(io.BytesIO(_coco()), LIMITS)
    assert not parsed.errors and parsed.items[0].annotations[0].box == (0.1, 0.1, 0.25, 0.4)


@pytest.mark.parametrize("order", [("images", "annotations", "categories"), ("categories", "images", "annotations"),
                                   ("annotations", "categories", "images"), ("annotations", "images", "categories")])
def test_coco_reads_the_same_items_in_any_member_order_with_int_or_float_boxes(order: tuple[str, ...]) -> None:
    """The usual entry (its image read, a box of floats) is taken at once, the others through every check: both
    ways give the same items, and an unknown category is the same row error, naming the annotation."""
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 200 + i, "height": 100} for i in range(1, 5)]
    boxes = [[20.5, 10.0, 50.0, 40.25], [0.0, 0.0, 1.0, 2.0], [3.5, 4.0, 5.0, 6.0]]
    annotations = [{"id": k, "image_id": 1 + k % 4, "category_id": 3 + k % 2, "bbox": boxes[k % 3]}
                   for k in range(12)] + [{"image_id": 2, "category_id": 9, "bbox": [1.0, 2.0, 3.0, 4.0]},
                                          {"id": "x", "image_id": 3, "category_id": 3}]
    document = {"images": images, "annotations": annotations,
                "categories": [{"id": 3, "name": "cat"}, {"id": 4, "name": "dog"}]}

    def parsed(doc: dict[str, Any]) -> tuple[list[Any], list[str]]:
        out = coco.read(io.BytesIO(json.dumps({key: doc[key] for key in order}).encode()), LIMITS)
        return [(i.filename, i.size, i.annotations) for i in out.items], _reasons(out)

    with_floats = parsed(document)
    as_ints = [{**a, "bbox": [int(v) for v in a["bbox"]]} if "bbox" in a and all(v == int(v) for v in a["bbox"])
               else a for a in annotations]
    assert parsed({**document, "annotations": as_ints}) == with_floats
    items, reasons = with_floats
    assert reasons == ["annotations[12]: category_id 9 is not in categories"]  # named as placed or at the end
    first = items[0][2]
    assert first[0].box == pytest.approx((20.5 / 201, 10 / 100, 50 / 201, 40.25 / 100)) and first[0].label == "cat"
    assert [len(i[2]) for i in items] == [3, 3, 4, 3]
    assert items[2][2][-1].kind == "CLASSIFICATION" and items[2][2][-1].box is None


@pytest.mark.parametrize(("change", "reason"), [
    ({"annotations__0__bbox": [True, 10, 100, 50]}, "annotations[0]: bbox[0] must be a number, not true"),
    ({"annotations__0__bbox": ["20", 10, 50, 40]}, "annotations[0]: bbox[0] must be a number, not a string"),
    ({"annotations__0__bbox": "[20, 10, 50, 40]"}, "annotations[0]: bbox must be a list of 4 numbers"),
    ({"annotations__0__bbox": False}, "annotations[0]: bbox must be a list of 4 numbers, not false"),
    ({"images__0__width": "200"}, "images[0]: width must be a number, not a string"),
    ({"images__0__height": True}, "images[0]: height must be a number, not true"),
    ({"images__0__id": [1]}, "images[0]: id must be a whole number, not a list"),
    ({"images__0__id": {"n": 1}}, "images[0]: id must be a whole number, not an object"),
    ({"images__0__file_name": ["a.jpg"]}, "images[0]: file_name must be a string, not a list"),
    ({"images__0__file_name": "a\x00.jpg"}, "images[0]: file_name contains a NUL character"),
    ({"annotations__0__id": [1, 2]}, "annotations[0]: id must be a whole number, not a list"),
    ({"annotations__0__image_id": {"id": 1}}, "annotations[0]: image_id must be a whole number, not an object"),
    ({"annotations__0__category_id": [3]}, "annotations[0]: category_id must be a whole number, not a list"),
    ({"annotations__0__category_id": "3"}, "annotations[0]: category_id must be a whole number, not a string"),
    ({"annotations__0__category_id": True}, "annotations[0]: category_id must be a whole number, not true"),
    ({"categories__0__id": {"x": 3}}, "categories[0]: id must be a whole number, not an object"),
    ({"categories__0__name": "c\x00t"}, "categories[0]: name contains a NUL character"),
    ({"categories__0__name": 5}, "categories[0]: name must be a string, not 5"),
])
def test_coco_refuses_every_badly_typed_value_as_a_row_error(change: dict[str, Any], reason: str) -> None:
    parsed = coco.read(io.BytesIO(_coco(**change)), LIMITS)
    assert any(r.startswith(reason) for r in _reasons(parsed)), _reasons(parsed)


def test_coco_nan_and_infinity_literals_are_not_json() -> None:
    for literal in ("NaN", "Infinity", "-Infinity"):
        parsed = coco.read(io.BytesIO(_coco().replace(b"[20, 10, 50, 40]", f"[{literal}, 10, 50, 40]".encode())),
                           LIMITS)
        assert _reasons(parsed)[0].startswith("not valid JSON"), literal


def _jsonl(box: Any, **line: Any) -> io.BufferedReader:
    row = {"filename": "a.jpg", "annotations": [{"label": "cat", "ann_type": "bbox", "bbox_json": box}], **line}
    return io.BufferedReader(io.BytesIO(json.dumps(row).encode() + b"\n"))  # type: ignore[arg-type]


@pytest.mark.parametrize(("box", "reason"), [
    ({"x": False, "y": 0.1, "w": 0.2, "h": 0.2}, "bbox_json.x must be a number, not false"),
    ({"x": "0.1", "y": 0.1, "w": 0.2, "h": 0.2}, "bbox_json.x must be a number, not a string ('0.1')"),
    ({"x": 0.1, "y": None, "w": 0.2, "h": 0.2}, "bbox_json.y must be a number, not null"),
    ({"x": 0.1, "y": 0.1, "w": [0.2], "h": 0.2}, "bbox_json.w must be a number, not a list"),
    ('{"x": 0.1, "y": 0.1, "w": 0.2, "h": true}', "bbox_json.h must be a number, not true"),
    ([0.1, 0.1, 0.2, 0.2], "bbox_json must be an object with x, y, w, h, not a list"),
])
def test_jsonl_numbers_must_be_numbers(box: Any, reason: str) -> None:
    parsed = jsonl.read(_jsonl(box), LIMITS)
    assert _reasons(parsed) == [f"line 1: annotations[0]: {reason}"]


def test_jsonl_refuses_nul_and_other_types_in_names_and_labels() -> None:
    box = {"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2}
    assert "filename contains a NUL" in _reasons(jsonl.read(_jsonl(box, filename="a\x00.jpg"), LIMITS))[0]
    assert "filename must be a string, not a list" in _reasons(jsonl.read(_jsonl(box, filename=["a"]), LIMITS))[0]
    bad = {"label": "c\x00t", "ann_type": "classification"}
    parsed = jsonl.read(_jsonl(box, annotations=[bad]), LIMITS)
    assert "annotations[0]: label contains a NUL" in _reasons(parsed)[0]
    assert parsed.errors.listed()[0].filename == "a.jpg"
    parsed = jsonl.read(_jsonl(box, annotations=[{"label": "cat", "ann_type": ["bbox"]}]), LIMITS)
    assert "ann_type must be 'classification' or 'bbox', not a list" in _reasons(parsed)[0]


def _yolo(lines: str, classes: bytes = b"cat\ndog\n", class_file: str = "classes.txt") -> Parsed:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(class_file, classes)
        z.writestr("labels/a.txt", lines)
    return yolo.read_tree(*yolo.zip_tree(buf, LIMITS, Budget(LIMITS.max_bytes)), LIMITS)


def test_yolo_reads_plain_decimals() -> None:
    parsed = _yolo("1 0.5 0.5 0.2 0.4\n0 .5 5e-1 0.1 0.1 0.9\n")
    assert not parsed.errors
    assert [(a.label, a.box) for a in parsed.items[0].annotations] == [
        ("dog", (0.4, 0.3, 0.2, 0.4)), ("cat", (0.45, 0.45, 0.1, 0.1))]


@pytest.mark.parametrize(("line", "reason"), [
    ("0 nan 0.5 0.2 0.2", "cx must be a number, not 'nan'"),
    ("0 0.5 inf 0.2 0.2", "cy must be a number, not 'inf'"),
    ("0 0.5 0.5 1_0 0.2", "w must be a number, not '1_0'"),
    ("0 0.5 0.5 0.2 Infinity", "h must be a number, not 'Infinity'"),
    ("0 0.5 0.5 0.2 0x1", "h must be a number, not '0x1'"),
    ("0 \u0660.5 0.5 0.2 0.2", "cx must be a number, not '\u0660.5'"),  # an Arabic-Indic zero
    ("1.0 0.5 0.5 0.2 0.2", "the class must be a whole number, not '1.0'"),
    ("2 0.5 0.5 0.2 0.2", "class 2 is not between 0 and 1"),
    ("0 0.5 0.5 0.2", "expected `class cx cy w h`, found 4 values"),
    ("0 0.1 0.1 0.2 0.2 0.3 0.3", "expected `class cx cy w h`, found 7 values"),
    ("0 0.5 0.5 0.2 0.2 nan", "the confidence must be a number, not 'nan'"),
    ("0 0.5 0.5 0.2 0.2 1.5", "the confidence must be between 0 and 1"),
])
def test_yolo_parses_text_strictly(line: str, reason: str) -> None:
    assert _reasons(_yolo(line + "\n")) == [f"labels/a.txt line 1: {reason}"]


@pytest.mark.parametrize(("yaml_text", "reason"), [
    (b"names: !!python/object/apply:os.system ['true']\n", "tags such as !!python/object are not allowed"),
    (b"names: !!python/name:os.system\n", "tags such as !!python/object are not allowed"),
    (b"names: !custom [cat]\n", "tags such as !!python/object are not allowed"),
    (b"names: [cat, yes]\n", "names[1] must be a string, not true"),
    (b"names: [cat, [dog]]\n", "names[1] must be a string, not a list"),
    (b"names: {0: cat, 2: dog}\n", "the ids of a names map must be 0, 1, 2"),
    (b"names: {a: cat}\n", "the ids of a names map must be 0, 1, 2"),
    (b'names: ["c\\0t"]\n', "contains a NUL character"),
    (b"nc: 2\n", "there is no names list"),
    (b"a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
     b"names: [*c, *c, *c, *c, *c, *c, *c, *c]\n", "names[0] must be a string, not a list"),
    (b"names: [" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
])
def test_yolo_data_yaml_is_loaded_safely_and_checked(yaml_text: bytes, reason: str) -> None:
    parsed = _yolo("0 0.5 0.5 0.2 0.2\n", yaml_text, "data.yaml")
    assert not parsed.items and len(parsed.errors) == 1
    error = parsed.errors.listed()[0]
    assert error.filename == "data.yaml" and reason in error.reason, error


def test_yolo_class_lists_must_be_utf8_and_storable() -> None:
    assert _reasons(_yolo("0 0.5 0.5 0.2 0.2\n", b"\xff\xfe cat\n")) == ["the file is not UTF-8 text"]
    assert "contains a NUL" in _reasons(_yolo("0 0.5 0.5 0.2 0.2\n", b"c\x00t\n"))[0]
    ok = _yolo("1 0.5 0.5 0.2 0.2\n", b"names: {0: cat, 1: dog}\n", "data.yaml")
    assert [a.label for a in ok.items[0].annotations] == ["dog"]


def test_yolo_folder_files_pass_the_same_checks(tmp_path: Path) -> None:
    (tmp_path / "labels").mkdir()
    (tmp_path / "classes.txt").write_text("cat\n")
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 true\n")
    files = [yolo.TreeFile("classes.txt", 4, tmp_path / "classes.txt"),
             yolo.TreeFile("labels/a.txt", 20, tmp_path / "labels" / "a.txt")]
    parsed = yolo.read_tree(files, lambda f: metered(f.ref.open("rb"), Budget(10**6)), LIMITS)
    assert _reasons(parsed) == ["labels/a.txt line 1: h must be a number, not 'true'"]


# -- through the API, on both databases ------------------------------------------------------------------------

def _import(client: TestClient, project_id: str, exports: Path, name: str, data: bytes, fmt: str) -> dict[str, Any]:
    (exports / name).write_bytes(data)
    job = gql(client, IMPORT, p=project_id, i={"path": f"{EXPORTS}/{name}", "format": fmt})["importAnnotations"]
    return wait_for_job(client, job["id"])


def test_badly_typed_rows_fail_the_job_with_row_errors_and_write_nothing(client: TestClient, images_dir: Path,
                                                                          tmp_path: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg"], size=(200, 100))
    project = create_project(client, classes=["cat", "dog"])
    exports = tmp_path / "exports"
    doc = json.loads(_coco())
    doc["images"].append({"id": [2], "file_name": "b.jpg", "width": 200, "height": 100})
    doc["annotations"] += [{"id": 2, "image_id": {"id": 1}, "category_id": 3, "bbox": [1, 1, 1, 1]},
                           {"id": 3, "image_id": 1, "category_id": [3], "bbox": [1, 1, 1, 1]},
                           {"id": 4, "image_id": 1, "category_id": 3, "bbox": [True, 10, 100, 50]}]
    job = _import(client, project["id"], exports, "typed.json", json.dumps(doc).encode(), "COCO")
    assert job["status"] == "FAILED" and "Unexpected error" not in job["error"], job
    assert job["result"]["code"] == "VALIDATION" and job["result"]["errorCount"] == 4
    reasons = sorted(e["reason"] for e in job["result"]["errors"])
    assert reasons == ["annotations[1]: image_id must be a whole number, not an object",
                       "annotations[2]: category_id must be a whole number, not a list",
                       "annotations[3]: bbox[0] must be a number, not true",
                       "images[1]: id must be a whole number, not a list"]
    stats = gql(client, 'query($p: ID!){ project(id: $p){ stats { labeled } } }', p=project["id"])
    assert stats["project"]["stats"]["labeled"] == 0


@pytest.mark.parametrize("fmt", ["COCO", "JSONL", "YOLO"])
def test_a_nul_in_a_row_is_a_row_error_and_the_job_is_recorded(client: TestClient, images_dir: Path,
                                                                tmp_path: Path, fmt: str) -> None:
    """PostgreSQL refuses NUL in text: a NUL reaching a job's error would leave the job unrecorded (and retried)."""
    make_images(images_dir, ["a.jpg"], size=(200, 100))
    project = create_project(client, classes=["cat", "dog"])
    exports = tmp_path / "exports"
    if fmt == "COCO":
        data = _coco(images__0__file_name="a\x00.jpg")
        name = "nul.json"
    elif fmt == "JSONL":
        data = json.dumps({"filename": "a.jpg", "annotations": [{"label": "c\x00t", "ann_type": "classification"}]
                           }).encode()
        name = "nul.jsonl"
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("classes.txt", "cat\nd\x00g\n")
            z.writestr("labels/a.txt", "1 0.5 0.5 0.2 0.2\n")
        data, name = buf.getvalue(), "nul.zip"
    job = _import(client, project["id"], exports, name, data, fmt)
    assert job["status"] == "FAILED", job
    assert any("contains a NUL character" in e["reason"] for e in job["result"]["errors"]), job
    assert "\x00" not in json.dumps(job) and "\\u0000" not in json.dumps(job)
