"""The Python client's operations and types against the server's committed schema (schema/schema.graphql, itself
checked against the code by test_graphql_api): a server change that breaks the client fails here."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLNonNull,
    OperationDefinitionNode,
    build_schema,
    get_named_type,
    parse,
    validate,
)

from cvexplorer import models, operations

SCHEMA = build_schema((Path(__file__).resolve().parents[1] / "schema" / "schema.graphql").read_text())
# Each client type, the GraphQL type it reads, and the fragment that selects its fields.
TYPES = [(models.Project, "Project", "ProjectFields"), (models.Sample, "Sample", "SampleFields"),
         (models.Annotation, "Annotation", "AnnotationFields"), (models.Job, "Job", "JobFields"),
         (models.ProjectStats, "ProjectStats", "StatsFields"), (models.UserStats, "UserStats", None),
         (models.ClassCount, "ClassCount", None), (models.Box, "Box", None)]
DERIVED = {"root_id": "root", "client": None}  # fields that are not a scalar of the same name


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


@pytest.mark.parametrize("name", operations.names())
def test_every_operation_is_valid_against_the_schema(name: str) -> None:
    errors = validate(SCHEMA, parse(operations.document(name)))
    assert not errors, f"{name}: " + "; ".join(e.message for e in errors)


def test_every_graphql_file_defines_only_named_operations_and_fragments() -> None:
    folder = Path(operations.__file__).parent
    for path in folder.glob("*.graphql"):
        doc = parse(path.read_text())
        for d in doc.definitions:
            assert isinstance(d, OperationDefinitionNode | FragmentDefinitionNode) and d.name, path.name


def _selected(fragment: str) -> set[str]:
    doc = parse(operations.document(next(n for n in operations.names()
                                         if f"...{fragment}" in operations.document(n).replace(" ", ""))))
    frag = next(d for d in doc.definitions if isinstance(d, FragmentDefinitionNode) and d.name.value == fragment)
    return {s.name.value for s in frag.selection_set.selections if isinstance(s, FieldNode)}


@pytest.mark.parametrize(("cls", "type_name", "fragment"), TYPES, ids=[t[1] for t in TYPES])
def test_each_client_type_reads_fields_the_schema_has_with_matching_nullability(cls: type, type_name: str,
                                                                                fragment: str | None) -> None:
    gql_type = SCHEMA.get_type(type_name)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    selected = _selected(fragment) if fragment else None
    for name, f in fields.items():
        if name in DERIVED and DERIVED[name] is None:
            continue
        schema_name = DERIVED.get(name) or _camel(name)
        assert schema_name in gql_type.fields, f"{cls.__name__}.{name}: {type_name} has no field {schema_name}"
        if selected is not None:
            assert schema_name in selected, f"{fragment} does not select {schema_name} for {cls.__name__}.{name}"
        nullable = not isinstance(gql_type.fields[schema_name].type, GraphQLNonNull)
        optional = "None" in str(f.type)
        if nullable:
            assert optional, f"{cls.__name__}.{name} must allow None: {type_name}.{schema_name} is nullable"
    if selected is not None:  # nothing is read that the type drops
        unread = {s for s in selected if s not in {DERIVED.get(n) or _camel(n) for n in fields}}
        assert not unread, f"{fragment} selects {unread} that {cls.__name__} does not keep"


def test_the_enums_the_client_names_exist() -> None:
    """Values the client and its command line pass as strings."""
    source = "\n".join(p.read_text() for p in Path(models.__file__).parent.glob("*.py"))
    expected = {"TaskType": {"DETECTION", "CLASSIFICATION"}, "AnnotationKind": {"BBOX", "CLASSIFICATION"},
                "ImportFormat": {"COCO", "JSONL", "YOLO"}, "ExportFormat": {"COCO", "CSV", "JSONL", "YOLO",
                                                                           "PASCAL_VOC"},
                "OnExistingAnnotations": {"REPLACE", "APPEND", "SKIP"}, "OnMissingSample": {"ERROR", "SKIP", "CREATE"},
                "JobStatus": {"SUCCEEDED", "FAILED", "CANCELLED"}}
    for enum, values in expected.items():
        assert values <= set(SCHEMA.get_type(enum).values), enum
        for v in values:
            assert re.search(rf'"{v}"', source), f"{enum}.{v} is not used by the client"


def test_the_import_input_the_client_sends_matches_the_schema() -> None:
    fields = SCHEMA.get_type("ImportInput").fields
    assert {"path", "format", "onMissingSample", "onExistingAnnotations", "dryRun", "asDraftsOf"} <= set(fields)
    assert get_named_type(fields["asDraftsOf"].type).name == "String"
