"""A project's own model (chosen by its owner) over the instance default from settings, and the mapping from
the model's labels to the project's classes.

Stored as a plain dict in `projects.model_settings`: {"protocol", "name", "location", "classes", "labelMap"}.
`effective_config` puts it in place of the default model of the server's ModelConfig."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from db.errors import Invalid
from jobs.models.config import ModelConfig
from jobs.models.egress import check_url
from volumes.paths import parse

PROTOCOLS = ("onnx", "serving", "labelstudio")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")


def checked_name(value: str, field: str) -> str:
    """A model's name (its drafts are attributed to model:<name>), trimmed; VALIDATION naming the field if not."""
    name = value.strip()
    if not _NAME.match(name):
        raise Invalid(f"{field} must be 1-100 letters, digits, '.', '_' or '-' (drafts are attributed to "
                      "model:<name>)")
    return name


def validate(stored: dict[str, Any], project_classes: list[str], config: ModelConfig) -> dict[str, Any]:
    """The settings as they will be stored, or VALIDATION naming the field that is wrong."""
    protocol = stored.get("protocol")
    if protocol not in PROTOCOLS:
        raise Invalid(f"protocol must be one of {', '.join(PROTOCOLS)}")
    name = checked_name(stored.get("name") or "", "name")
    location = (stored.get("location") or "").strip()
    url = _location_url(protocol, location, config)  # raises when it cannot be used
    location = location if protocol == "serving" else url  # an endpoint name stays a name
    classes = [c.strip() for c in stored.get("classes") or [] if c.strip()]
    if protocol != "onnx" and classes:
        raise Invalid("classes are only for ONNX models without class names in their metadata")
    known = {c.lower(): c for c in project_classes}
    label_map: dict[str, str] = {}
    for model_label, target in (stored.get("labelMap") or {}).items():
        if not model_label.strip():
            raise Invalid("labelMap: a model label is empty")
        if target and target.strip().lower() not in known:
            raise Invalid(f"labelMap: {target!r} is not a class of this project ({', '.join(project_classes)})")
        label_map[model_label.strip()] = known[target.strip().lower()] if target else ""
    return {"protocol": protocol, "name": name, "location": location, "classes": classes, "labelMap": label_map}


async def check_target(settings: dict[str, Any], config: ModelConfig) -> None:
    """VALIDATION naming the reason when validated settings lead to an address a model may not be at
    (jobs.models.egress; every connection is checked again)."""
    if settings["protocol"] != "onnx":
        await check_url(_location_url(settings["protocol"], settings["location"], config), config.allow)


def effective_config(config: ModelConfig, stored: dict[str, Any] | None) -> ModelConfig:
    """The instance config with the project's model (if it has one) in place of the default model."""
    if not stored:
        return config
    protocol = stored["protocol"]
    url = _location_url(protocol, stored["location"], config)
    return dataclasses.replace(config, path=url if protocol == "onnx" else "",
                               serving_url=url if protocol == "serving" else "",
                               backend_url=url if protocol == "labelstudio" else "", name=stored["name"],
                               classes=tuple(stored.get("classes") or ()), label_map=dict(stored.get("labelMap") or {}))


def class_lookup(project_classes: list[str], label_map: Mapping[str, str] | None) -> dict[str, str]:
    """Model label (lower case) → project class; an explicit mapping wins, "" drops the label; otherwise a label
    equal to a class name (ignoring case) maps to it."""
    lookup = {c.strip().lower(): c for c in project_classes}
    classes = set(project_classes)  # a mapping onto a class renamed since then drops the label
    lookup.update({k.strip().lower(): v if v in classes else "" for k, v in (label_map or {}).items()})
    return lookup


def _location_url(protocol: str, location: str, config: ModelConfig) -> str:
    if not location:
        raise Invalid("location is required: an .onnx file in a volume, a serving endpoint name or a backend URL")
    if protocol == "onnx":
        if not location.startswith("/Volumes/") or not location.lower().endswith(".onnx"):
            raise Invalid("location must be an .onnx file in a volume: /Volumes/<catalog>/<schema>/<volume>/….onnx")
        parse(location)  # a path no file can have is refused now, not when the model is first used
        return location
    if protocol == "labelstudio":
        if urlsplit(location).scheme not in ("http", "https") or not urlsplit(location).hostname:
            raise Invalid("location must be the http(s) URL of a Label Studio ML backend")
        return location.rstrip("/")
    return _serving_url(location, config)


def _serving_url(location: str, config: ModelConfig) -> str:
    """An endpoint name or invocation URL on the configured Databricks host: credentials go nowhere else."""
    host = config.databricks_host.rstrip("/")
    if not host:
        raise Invalid("Model Serving needs the workspace: set DATABRICKS_HOST (and its credentials) on the server")
    if _ENDPOINT_NAME.match(location):
        return f"{host}/serving-endpoints/{location}/invocations"
    parts = urlsplit(location)
    if f"{parts.scheme}://{parts.netloc}" != host or not parts.path.startswith("/serving-endpoints/"):
        raise Invalid(f"location must be a serving endpoint name or an invocation URL on {host}")
    return location
