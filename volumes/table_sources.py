"""A project's table source: `catalog.schema.table`, the column of `/Volumes/...` paths and an optional filter of
column = value pairs, validated, stored as JSON, and turned into one parameterised SQL statement. Identifiers are
checked against Unity Catalog's naming rules and backquoted; filter values only ever travel as statement
parameters, never inside the SQL text, so no value can change the statement."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from db.errors import Invalid
from volumes.paths import shown

# Unity Catalog names: at most 255 characters, no period, space, slash, control character or DEL. The backquote is
# refused too, so quoting an accepted name can never close its quotes.
_IDENTIFIER = re.compile(r"^[^.\s/`\x00-\x1f\x7f]{1,255}$")
MAX_FILTERS = 10
MAX_VALUE_CHARS = 1000


@dataclass(frozen=True)
class TableSource:
    catalog: str
    schema: str
    table: str
    column: str
    filters: tuple[tuple[str, str], ...] = ()  # (column, value): every pair must hold

    @property
    def name(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.table}"

    def as_json(self) -> dict[str, Any]:
        return {"table": self.name, "column": self.column, "filter": [list(pair) for pair in self.filters]}

    @staticmethod
    def of_json(stored: dict[str, Any]) -> TableSource:
        return table_source(stored["table"], stored["column"], [tuple(p) for p in stored.get("filter") or []])

    def statement(self, page_rows: int) -> tuple[str, list[dict[str, str]]]:
        """The SQL and its parameters for the next page of distinct paths after `:after` (in the column's order;
        the caller sets `after`, '' for the first page)."""
        col = quote(self.column)
        where = [f"{col} IS NOT NULL", f"{col} > :after"]
        params = [{"name": "after", "value": "", "type": "STRING"}]
        for i, (column, value) in enumerate(self.filters):
            where.append(f"{quote(column)} = :f{i}")
            params.append({"name": f"f{i}", "value": value, "type": "STRING"})
        table = ".".join(quote(p) for p in (self.catalog, self.schema, self.table))
        sql = (f"SELECT DISTINCT {col} FROM {table} WHERE {' AND '.join(where)} ORDER BY {col} "
               f"LIMIT {int(page_rows)}")
        return sql, params


class TableLister(Protocol):
    """What lists a table source's paths (volumes.warehouse.WarehouseTables on Databricks)."""

    def paths(self, source: TableSource) -> Iterator[list[str]]: ...


def quote(identifier: str) -> str:
    return f"`{identifier}`"


def identifier(value: str, what: str, field: str) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise Invalid(f"{shown(str(value), 60)!r} is not a valid {what} name: a name has 1 to 255 characters and no "
                      "period, space, slash, backquote or control character.", field=field)
    return value


def table_source(table: str, column: str, filters: list[tuple[str, str]] | None = None) -> TableSource:
    """Validated, or VALIDATION naming the part that is wrong."""
    parts = table.strip().split(".") if isinstance(table, str) else []
    if len(parts) != 3:
        raise Invalid(f"{shown(str(table), 60)!r} is not a table name: give it as catalog.schema.table.",
                      field="table")
    catalog, schema, name = (identifier(p, what, "table") for p, what in zip(parts, ("catalog", "schema", "table"),
                                                                         strict=True))
    pairs = list(filters or [])
    if len(pairs) > MAX_FILTERS:
        raise Invalid(f"A filter has at most {MAX_FILTERS} column = value pairs, not {len(pairs)}.", field="filter")
    checked = []
    for col, value in pairs:
        if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS or "\x00" in value:
            raise Invalid(f"The filter value for {shown(str(col), 60)!r} must be text of at most "
                          f"{MAX_VALUE_CHARS:,} characters without NUL.", field="filter")
        checked.append((identifier(col, "filter column", "filter"), value))
    return TableSource(catalog, schema, name, identifier(column.strip() if isinstance(column, str) else column,
                                                         "column", "column"), tuple(checked))
