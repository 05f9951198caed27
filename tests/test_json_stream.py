"""jobs.formats.json_stream reads arrays many elements at a time where it can: the elements are exactly the ones the
document holds (also where a cut would fall inside a string or a nested value), and the row limit still stops an
entry longer than it."""

from __future__ import annotations

import io
import json
import random

import orjson
import pytest

from db.errors import TooLarge
from jobs.formats.json_stream import JsonStream


def _elements(document: bytes, max_value: int = 1 << 20, chunk: int = 1 << 20) -> list[object]:
    stream = JsonStream(io.BytesIO(document), max_value, chunk=chunk)
    assert next(stream.members()) == "a"
    return list(stream.elements())


def _tricky(rng: random.Random, k: int) -> object:
    return rng.choice([
        {"id": k, "bbox": [1.5, 2, 3, 4]},
        {"id": k, "name": "},{\"id\": 1}", "nested": {"x": [{"y": "},"}]}},  # cut points inside strings and values
        {"id": k, "deep": {"a": {"b": {"c": k}}}},
        [k, {"a": "}"}],
        "},{",
        k,
    ])


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_batched_elements_are_exactly_the_documents(chunk: int) -> None:
    rng = random.Random(3)
    values = [_tricky(rng, k) for k in range(3000)]
    text = ('{"a": [' + ",\n ".join(json.dumps(v) for v in values) + "]}").encode()
    assert _elements(text, chunk=chunk) == values


def test_an_entry_longer_than_the_limit_is_refused_among_short_ones() -> None:
    short = ",".join(orjson.dumps({"id": k}).decode() for k in range(50))
    long = orjson.dumps({"id": 0, "pad": "x" * 300}).decode()
    with pytest.raises(TooLarge, match="IMPORT_MAX_ROW_BYTES"):
        _elements(f'{{"a": [{short},{long},{short}]}}'.encode(), max_value=200)
