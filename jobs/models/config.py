"""The model configuration, typed: the server's default model (built once from the settings by server.py) or, with
a project's own model in place of it (jobs.models.settings.effective_config), what one pre-label or suggestion calls."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from jobs.models.egress import AllowList
from jobs.models.serving import ServingFormat


@dataclass(frozen=True)
class ModelConfig:
    name: str  # drafts are recorded as model:<name>
    path: str  # an .onnx file in a volume (MODEL_PATH); wins over the others
    classes: tuple[str, ...]  # the ONNX model's class names, when its metadata has none
    serving_url: str  # a Model Serving invocation URL
    backend_url: str  # a Label Studio ML backend
    serving_format: ServingFormat
    serving_image_max_side: int
    serving_timeout_seconds: float
    databricks_host: str  # the workspace: Serving endpoints must be on it
    allow: AllowList  # private addresses a model URL may reach (MODEL_URL_ALLOW)
    public_url: str  # where a model fetches images from (/media/samples/<id>/image)
    max_pixels: int
    serving_token: str = field(default="", repr=False)
    workspace_headers: Callable[[], dict[str, str]] | None = None  # OAuth headers from the workspace client
    label_map: Mapping[str, str] = field(default_factory=dict)  # a project's model: its labels -> project classes

    @property
    def author(self) -> str:
        return f"model:{self.name}"
