"""Assembles the Strawberry schema from the per-domain resolver classes; `python -m schema.build` prints the SDL."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.tools import merge_types
from strawberry.types import ExecutionResult

from db.errors import DomainError
from resolvers.accounts import AccountMutations, AccountQueries
from resolvers.admin import AdminQueries
from resolvers.consensus import ConsensusMutations, ConsensusQueries
from resolvers.datasets import DatasetMutations
from resolvers.drafts import DraftMutations, DraftQueries
from resolvers.duplicates import DuplicateMutations
from resolvers.evaluation import EvaluationMutations, EvaluationQueries
from resolvers.folder_counts import FolderCountQueries
from resolvers.jobs import JobMutations, JobQueries, JobSubscriptions
from resolvers.key_maps import KeyMapMutations, KeyMapQueries, KeyMapSubscriptions
from resolvers.label_errors import LabelErrorMutations, LabelErrorQueries
from resolvers.labels import LabelMutations, LabelSubscriptions
from resolvers.members import MemberMutations, MemberQueries
from resolvers.models import ModelMutations, ModelQueries
from resolvers.past_exports import PastExportQueries
from resolvers.projects import ProjectMutations, ProjectQueries
from resolvers.reviews import ReviewMutations, ReviewQueries
from resolvers.samples import SampleQueries
from resolvers.shares import ShareMutations, ShareQueries
from resolvers.source_folders import SourceFolderMutations, SourceFolderQueries
from resolvers.splits import SplitMutations
from resolvers.stats import StatsSubscriptions
from resolvers.users import UserQueries
from resolvers.volumes import VolumeQueries
from schema.context import FreshPerOperation
from schema.errors import DomainErrors
from schema.limits import Executor, Limits
from schema.offload import is_heavy, off_loop
from schema.prepare import Prepare

Query = merge_types("Query", (UserQueries, ProjectQueries, SampleQueries, VolumeQueries, JobQueries, AdminQueries,
                                 ModelQueries, MemberQueries, ReviewQueries, AccountQueries, ShareQueries,
                                 DraftQueries, PastExportQueries, KeyMapQueries, SourceFolderQueries,
                                 FolderCountQueries, ConsensusQueries, EvaluationQueries, LabelErrorQueries))
Mutation = merge_types("Mutation", (ProjectMutations, LabelMutations, JobMutations, DatasetMutations,
                                       ModelMutations, MemberMutations, ReviewMutations, AccountMutations,
                                       ShareMutations, DraftMutations, KeyMapMutations, SourceFolderMutations,
                                       DuplicateMutations, ConsensusMutations, SplitMutations,
                                       EvaluationMutations, LabelErrorMutations))
Subscription = merge_types("Subscription", (StatsSubscriptions, LabelSubscriptions, JobSubscriptions,
                                            KeyMapSubscriptions))

class Schema(strawberry.Schema):
    """Expected (domain and validation) errors are answers, not incidents: only the unexpected are logged. Costly
    queries and mutations run on schema.offload's loop, over HTTP (execute) and websockets (stream)."""

    async def execute(self, query: str | None, variable_values: dict[str, Any] | None = None,
                      context_value: Any = None, root_value: Any = None, operation_name: str | None = None,
                      allowed_operation_types: Any = None, operation_extensions: dict[str, Any] | None = None,
                      ) -> ExecutionResult:
        heavy = is_heavy(self._schema, query, operation_name, variable_values, context_value)
        work = super().execute(query, variable_values, context_value, root_value, operation_name,
                               allowed_operation_types, operation_extensions)
        return await (off_loop.run(work) if heavy else work)

    async def stream(self, query: str | None, variable_values: dict[str, Any] | None = None,
                     context_value: Any = None, root_value: Any = None, operation_name: str | None = None,
                     operation_extensions: dict[str, Any] | None = None, allowed_operation_types: Any = None) -> Any:
        heavy = is_heavy(self._schema, query, operation_name, variable_values, context_value)
        results = await super().stream(query, variable_values, context_value, root_value, operation_name,
                                       operation_extensions, allowed_operation_types)
        return off_loop.iterate(results) if heavy else results

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        for e in errors:  # a syntax or token-limit error raised in Prepare never reaches DomainErrors
            if e.original_error is None and not (e.extensions or {}).get("code"):
                e.extensions = {**(e.extensions or {}), "code": "VALIDATION"}
        unexpected = [e for e in errors if not isinstance(e.original_error, DomainError | GraphQLError)
                      and (e.extensions or {}).get("code") not in EXPECTED_CODES and e.original_error is not None]
        super().process_errors(unexpected, execution_context)


EXPECTED_CODES = {"NOT_FOUND", "CONFLICT", "VALIDATION", "FORBIDDEN", "UNAUTHENTICATED", "TOO_LARGE", "UNAVAILABLE"}

schema = Schema(
    query=Query, mutation=Mutation, subscription=Subscription,
    extensions=[DomainErrors, FreshPerOperation, Prepare, Limits],  # Prepare parses and validates; Limits after it
    execution_context_class=Executor,
)

if __name__ == "__main__":
    print(schema.as_str())
