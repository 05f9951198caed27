"""Pre-label a project with a model of your own and upload its predictions as drafts, notebook style: run it cell
by cell (the `# %%` markers) in Jupyter, VS Code or a Databricks notebook, or as a script:

    CVEXPLORER_URL=http://127.0.0.1:8000 CVEXPLORER_TOKEN=cvx_... python prelabel_with_my_model.py "Street" car

Labellers then see the drafts dashed with their confidence, accept them with `A` or fix them. Replace `my_model`
with yours (a torch / ultralytics / onnx model): it gets a Pillow image and returns pixel corner boxes."""

# %% Connect: a URL and an API token (on Databricks: cvexplorer.Client.from_databricks(app_url), nothing to paste).
import io
import os
import sys

import pandas as pd
from PIL import Image, ImageChops

import cvexplorer

PROJECT = sys.argv[1] if len(sys.argv) > 1 else "Street"
LABEL = sys.argv[2] if len(sys.argv) > 2 else "car"
cvx = cvexplorer.Client(os.environ.get("CVEXPLORER_URL", "http://127.0.0.1:8000"),
                        token=os.environ.get("CVEXPLORER_TOKEN"))
project = cvx.project(PROJECT)
print(f"{project.name}: {cvx.stats(project).unlabeled} unlabelled images")


# %% Your model. This stand-in finds the part of the image that differs from its top-left pixel's colour; yours
# returns what it detected: (label, confidence, x1, y1, x2, y2) in pixels of the image it was given.
def my_model(image: Image.Image) -> list[tuple[str, float, float, float, float, float]]:
    background = Image.new(image.mode, image.size, image.getpixel((0, 0)))
    box = ImageChops.difference(image, background).convert("L").point(lambda v: 255 if v > 24 else 0).getbbox()
    return [(LABEL, 0.8, *box)] if box else []


# %% Predict every unlabelled image (streamed: a million images take constant memory), a row per box.
rows = []
for sample in cvx.samples(project, status="UNLABELED"):
    image = Image.open(io.BytesIO(cvx.image(sample))).convert("RGB")
    for label, confidence, x1, y1, x2, y2 in my_model(image):
        rows.append({"filename": sample.filename, "label": label, "confidence": confidence, "x1": x1, "y1": y1,
                     "x2": x2, "y2": y2, "width": image.width, "height": image.height})
predictions = pd.DataFrame(rows)
print(f"{len(predictions)} boxes on {predictions['filename'].nunique() if rows else 0} images")

# %% Upload them as drafts of model:my-model in one file and one import job (re-running replaces its drafts).
if rows:
    job = cvx.upload_predictions(project, predictions, box_format="xyxy", pixels=True, as_drafts_of="my-model")
    print(f"stored {job.result['annotationsCreated']} drafts on {job.result['samplesTouched']} images")
print(cvx.stats(project))
