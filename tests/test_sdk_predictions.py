"""The Python client's conversion of predictions to the JSONL import format (pure: no server): box formats, pixels,
clipping, rows without a box, and inputs it refuses. tests/test_sdk_client.py sends such files to a real server."""

from __future__ import annotations

import io
import json
import math

import pandas as pd
import pytest

from cvexplorer import predictions


def _lines(data: object = None, **kwargs: object) -> list[dict]:
    fmt = str(kwargs.pop("box_format", "xywh"))
    cols = predictions.columns(data, box_format=fmt, **{k: v for k, v in kwargs.items()
                                                        if k in ("filenames", "labels", "boxes", "confidences")})
    out = io.BytesIO()
    predictions.write_jsonl(cols, out, box_format=fmt, **{k: v for k, v in kwargs.items()  # type: ignore[arg-type]
                                                          if k in ("pixels", "size_of", "clip")})
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_rows_of_one_image_become_one_line_in_the_order_given() -> None:
    rows = [{"filename": "b.jpg", "label": "car", "box": (0.1, 0.2, 0.3, 0.4), "confidence": 0.5},
            {"filename": "a.jpg", "label": "dog"},  # no box: a classification label
            {"filename": "b.jpg", "label": "cat", "x": 0.0, "y": 0.0, "w": 1.0, "h": 1.0}]
    assert _lines(rows, box_format="xywh") == [
        {"filename": "b.jpg", "annotations": [
            {"label": "car", "ann_type": "bbox", "bbox_json": {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4},
             "confidence": 0.5},
            {"label": "cat", "ann_type": "bbox", "bbox_json": {"x": 0.0, "y": 0.0, "w": 1.0, "h": 1.0}}]},
        {"filename": "a.jpg", "annotations": [{"label": "dog", "ann_type": "classification"}]}]


def test_pixel_corners_are_normalised_rounded_and_clipped() -> None:
    df = pd.DataFrame({"filename": ["a.jpg", "a.jpg"], "label": ["car", "car"], "x1": [-10.0, 100.0],
                       "y1": [0.0, 50.0], "x2": [50.0, 250.0], "y2": [30.0, 60.0]})
    [line] = _lines(df, box_format="xyxy", pixels=True, size_of=lambda name: (200, 100), clip=True)
    assert [a["bbox_json"] for a in line["annotations"]] == [{"x": 0.0, "y": 0.0, "w": 0.25, "h": 0.3},
                                                             {"x": 0.5, "y": 0.5, "w": 0.5, "h": 0.1}]
    [unclipped] = _lines(df, box_format="xyxy", pixels=True, size_of=lambda name: (300, 90))
    assert unclipped["annotations"][0]["bbox_json"] == {"x": -0.0333333, "y": 0.0, "w": 0.2, "h": 0.3333333}


def test_centre_boxes_and_arrays() -> None:
    [line] = _lines(filenames=["a.jpg"], labels=["car"], boxes=[[0.5, 0.5, 0.2, 0.4]], box_format="cxcywh")
    assert line["annotations"][0]["bbox_json"] == {"x": 0.4, "y": 0.3, "w": 0.2, "h": 0.4}


def test_a_box_missing_some_values_is_sent_with_nulls_for_the_server_to_report() -> None:
    [line] = _lines([{"filename": "a.jpg", "label": "car", "x": 0.1, "y": math.nan, "w": 0.1, "h": 0.1}])
    assert line["annotations"][0]["bbox_json"]["y"] is None


def test_what_it_refuses() -> None:
    with pytest.raises(ValueError, match="has no label"):
        predictions.columns([{"filename": "a.jpg"}])
    with pytest.raises(ValueError, match="box_format must be one of"):
        predictions.columns([], box_format="ltrb")
    with pytest.raises(ValueError, match="needs the columns filename, label and x1, y1, x2, y2"):
        predictions.columns(pd.DataFrame({"filename": ["a"], "label": ["b"], "x": [0.1]}), box_format="xyxy")
    with pytest.raises(ValueError, match="differ in length"):
        predictions.columns(filenames=["a.jpg", "b.jpg"], labels=["car"], boxes=[[0, 0, 1, 1]] * 2)
    with pytest.raises(ValueError, match=r"a\.jpg: pixel boxes need the image's size"):
        _lines([{"filename": "a.jpg", "label": "car", "x": 1, "y": 1, "w": 5, "h": 5}], pixels=True,
               size_of=lambda name: None)
