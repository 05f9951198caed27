"""The static cost of a GraphQL operation, counted from the parsed document before any resolver runs: about how many
values its answer can hold. Limits refuses an operation over GRAPHQL_MAX_COST; schema.build runs costly ones off
the event loop."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    VariableNode,
    get_named_type,
    get_nullable_type,
)

# Lists without `first`: the size an answer is assumed to reach (each is documented in README "Security and limits").
LIST_SIZES = {
    "Query.projects": 100, "Query.accounts": 200, "Query.myApiTokens": 20, "Instance.users": 200,
    "Query.volumeShares": 200,
    "Project.versions": 20, "Project.members": 50, "ProjectStats.perUser": 50, "ProjectStats.perClass": 100,
    "ProjectStats.velocity": 30, "Sample.annotations": 20, "Sample.labelCounts": 10, "Sample.history": 50,
    "ModelSettings.labelMap": 100,
    "KeyMap.classes": 100, "KeyMap.actions": 40, "ActionKeys.keys": 4, "Instance.tableCounts": 20,
    "SourceTable.filter": 10,
    "Sample.submissions": 10, "Submission.annotations": 20, "ImageAgreement.pairs": 45,
    "ImageAgreement.vsConsensus": 10, "Agreement.perLabeller": 50, "Agreement.perClass": 100,
    "Agreement.matrix": 1225, "Agreement.overTime": 366
}
# A `first` that is null or left out pages by the field's default; browse without `first` lists everything.
UNPAGED = {"Query.browse": 1000}
# sized by the `first` of the field above them
PAGED_LISTS = {"SampleConnection.edges", "VolumeListing.entries", "AdjudicationPage.items", "LabelErrorPage.items"}
# Fields whose resolver runs a query of its own each time it appears (not batched with its siblings): counting
# or positioning within a project's samples, or reading a folder or a model's status over the network.
WEIGHTS = {"SampleConnection.totalCount": 50, "SampleConnection.totalEstimate": 50, "Project.samplePosition": 50,
           "Project.sampleAt": 50,
           "Project.samples": 10, "Query.reviewQueue": 10, "Query.likelyLabelErrors": 10, "Query.browse": 10,
           "Query.modelStatus": 50}
DEFAULT_LIST_SIZE = 100  # a list field missing from LIST_SIZES (a test keeps every list of this schema listed)


@dataclass(frozen=True)
class _Field:
    """What the walk needs of one field of the schema, worked out once."""

    key: str  # "Type.field"
    weight: int
    child: GraphQLNamedType  # the object type its selections are on
    is_list: bool
    paged: bool  # it takes `first`
    first_default: Any  # first's default (null or Undefined: none)
    size: int  # an unpaged list's assumed size


@lru_cache(maxsize=4096)
def _field(parent: GraphQLObjectType, name: str) -> _Field | None:
    definition = parent.fields.get(name)
    if definition is None:
        return None
    key = f"{parent.name}.{name}"
    returned = get_nullable_type(definition.type)
    first = definition.args.get("first")
    return _Field(key, WEIGHTS.get(key, 1), get_named_type(returned), isinstance(returned, GraphQLList),
                  first is not None, first.default_value if first is not None else None,
                  LIST_SIZES.get(key, DEFAULT_LIST_SIZE))


def _text(node: FieldNode) -> str | None:
    """The field as written from its name on (arguments and selections, not its alias)."""
    if node.loc is None:
        return None
    return node.loc.source.body[node.name.loc.start if node.name.loc else node.loc.start:node.loc.end]


class _Walk:
    """One operation's walk. Costs are linear in the multiplier, so each fragment, and each field written alike,
    is costed once per page size."""

    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode],
                 variables: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
        self.schema, self.fragments, self.variables, self.defaults = schema, fragments, variables, defaults
        self.memo: dict[tuple[str, int | None], int] = {}
        self.fields: dict[tuple[str, str | None, int | None], int] = {}

    def selections(self, parent: GraphQLNamedType, node: SelectionSetNode, page: int | None) -> int:
        total = 0
        for sel in node.selections:
            if isinstance(sel, FieldNode):
                total += self.field(parent, sel, page)
            elif isinstance(sel, InlineFragmentNode):
                cond = sel.type_condition and self.schema.get_type(sel.type_condition.name.value)
                total += self.selections(cond or parent, sel.selection_set, page)
            elif isinstance(sel, FragmentSpreadNode):
                total += self.spread(sel.name.value, page)
        return total

    def spread(self, name: str, page: int | None) -> int:
        key = (name, page)
        if key not in self.memo:
            frag = self.fragments.get(name)
            self.memo[key] = 0  # a cycle ends here (validation refuses cycles anyway)
            cond = self.schema.get_type(frag.type_condition.name.value) if frag else None
            if frag is not None and cond is not None:
                self.memo[key] = self.selections(cond, frag.selection_set, page)
        return self.memo[key]

    def field(self, parent: GraphQLNamedType, node: FieldNode, page: int | None) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 1 if name == "__typename" else 0  # introspection: local mode only (refused elsewhere)
        facts = _field(parent, name) if isinstance(parent, GraphQLObjectType) else None
        if facts is None:
            return 1  # unknown field: validation reports it
        if node.selection_set is None:
            return facts.weight
        text = _text(node)  # aliases of the same field, written alike, cost alike: counted once
        key = (facts.key, text, page)
        if text is not None and key in self.fields:
            return self.fields[key]
        self.fields[key] = cost = self._nested(node, facts, page)
        return cost

    def _nested(self, node: FieldNode, facts: _Field, page: int | None) -> int:
        assert node.selection_set is not None  # field() counts a leaf itself
        first = self.first(node, facts) if facts.paged else None
        size, child_page = 1, None
        if not facts.is_list:
            child_page = first
        elif first is not None:
            size = first
        else:
            size = page if page is not None and facts.key in PAGED_LISTS else facts.size
        return facts.weight + size * self.selections(facts.child, node.selection_set, child_page)

    def first(self, node: FieldNode, facts: _Field) -> int:
        """The `first` this field will run with: literal, variable, the variable's default, the field's default."""
        value: Any = Undefined
        for arg in node.arguments or ():
            if arg.name.value == "first":
                value = arg.value
                if isinstance(value, VariableNode):
                    name = value.name.value
                    value = self.variables[name] if name in self.variables else self.defaults.get(name, Undefined)
                if isinstance(value, IntValueNode):
                    value = int(value.value)
        if not isinstance(value, int) or isinstance(value, bool):
            value = facts.first_default  # absent or null: the field pages by its default
        if not isinstance(value, int) or isinstance(value, bool):
            return UNPAGED.get(facts.key, DEFAULT_LIST_SIZE)
        return max(0, value)


def operation(doc: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation that will run: the named one, or the only one."""
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return ops[0] if len(ops) == 1 else None
    return next((op for op in ops if op.name and op.name.value == name), None)


def estimate(schema: GraphQLSchema, doc: DocumentNode, operation_name: str | None,
             variables: Mapping[str, Any] | None) -> int:
    """The cost of the operation that will run (0 when there is none to run): every field counts once per value
    it resolves, lists multiply what they contain by their size, some fields weigh more (WEIGHTS)."""
    op = operation(doc, operation_name)
    root = schema.get_root_type(op.operation) if op else None
    if op is None or root is None:
        return 0
    defaults = {v.variable.name.value: v.default_value for v in op.variable_definitions or ()}
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    given = variables if isinstance(variables, Mapping) else {}  # anything else fails variable coercion later
    return _Walk(schema, fragments, given, defaults).selections(root, op.selection_set, None)
