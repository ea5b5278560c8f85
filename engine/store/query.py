"""Lists and aggregates, as the record store offers them (one import for callers).

The work is split: `engine.store.resolve` resolves the fields a request names and parses its values,
`engine.store.lists` reads pages, `engine.store.aggregates` groups and measures.
"""

from engine.store.aggregates import BUCKETS, MAX_GROUP_KEYS, MAX_GROUPS, METRICS, AggregateQuery, Groups, aggregate
from engine.store.lists import DEFAULT_LIMIT, MAX_LIMIT, ListQuery, Page, list_records
from engine.store.resolve import OPERATORS, Condition, where_clause

__all__ = [
    "BUCKETS",
    "DEFAULT_LIMIT",
    "MAX_GROUPS",
    "MAX_GROUP_KEYS",
    "MAX_LIMIT",
    "METRICS",
    "OPERATORS",
    "AggregateQuery",
    "Condition",
    "Groups",
    "ListQuery",
    "Page",
    "aggregate",
    "list_records",
    "where_clause",
]
