"""The labelling view against a plain model of what the server must hold: short seeded random runs of key presses,
box drawing, reloads and a second tab on single-label, multi-label and detection projects (tests/e2e/label_model.py).
`make bench` runs thousands more actions with new seeds."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.e2e.conftest import Api
from tests.e2e.label_model import CLASSES, run_model

pytestmark = pytest.mark.e2e
STEPS = 30


@pytest.fixture(autouse=True)
def _only_good_images(server: tuple[str, Path]) -> None:
    (server[1] / "broken.jpg").unlink()


@pytest.mark.parametrize(("task", "seed"), [("single", 1), ("multi", 2), ("detection", 3)])
async def test_random_labelling_matches_the_model(browser: Browser, server: tuple[str, Path], api: Api, task: str,
                                                  seed: int) -> None:
    project = api.project(f"Model {task}", "DETECTION" if task == "detection" else "CLASSIFICATION", CLASSES,
                          multi=task == "multi")
    ran, mismatch = await run_model(browser, server[0], api, project, task, seed, STEPS)
    assert mismatch is None, str(mismatch)
    assert ran == STEPS
