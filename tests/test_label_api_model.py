"""Random sequences of labelling operations through GraphQL, on SQLite and PostgreSQL, against a plain model of
what must be stored (tests/label_api_model.py). A short, derandomized run here; `make bench` runs many more."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.label_api_model import KINDS, SAMPLES, TABS, TASKS, Mismatch, Op, in_process, run_sequence

OPS = st.lists(st.builds(Op, st.sampled_from(KINDS), st.integers(0, TABS - 1), st.integers(0, SAMPLES - 1),
                         st.lists(st.integers(0, 3), max_size=3).map(tuple), st.booleans()),
               min_size=1, max_size=20)
SEQUENCES = st.tuples(st.sampled_from(TASKS), OPS)


def check(client: TestClient, task: str, ops: list[Op]) -> None:
    try:
        run_sequence(in_process(client), task, ops)
    except Mismatch as exc:
        raise AssertionError(f"{task} project, {exc}; sequence: {ops}") from None


ACCEPT_OVER_A_LABEL = [Op("save", 0, 0, (0,), False), Op("predict", 0, 0, (0, 1), False), Op("accept", 0, 0, (), False),
                       Op("resave", 1, 0, (), False)]


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sequence=SEQUENCES)
@example(sequence=("single", ACCEPT_OVER_A_LABEL))  # a single-label sample keeps one label
@example(sequence=("multi", ACCEPT_OVER_A_LABEL))  # a label is never given twice
@example(sequence=("detection", [Op("save", 0, 1, (0, 1), False), Op("review", 0, 1, (), True),
                                 Op("save", 0, 1, (1, 0), True), Op("stale", 1, 1, (2,), False),
                                 Op("review", 1, 1, (), False), Op("resave", 1, 1, (), False)]))
def test_random_label_operations_match_the_model(client: TestClient, sequence: tuple[str, list[Op]]) -> None:
    check(client, *sequence)
