"""The SQL the life-cycle code sends to Azure SQL parses as T-SQL (no server here) and reads
the reviewed label before the catalogued one."""

import sqlglot

from assets.splits.membership import group_members_sql
from resources.warehouse.dialects import DUCKDB, TSQL


def test_the_split_members_query_is_valid_tsql_and_prefers_reviewed_labels():
    for reviewed in (False, True):
        tree = sqlglot.parse_one(group_members_sql(TSQL, reviewed), read="tsql")
        label = next(e for e in tree.expressions if e.alias == "label")
        first = label.this.this if isinstance(label.this, sqlglot.exp.Coalesce) else None
        assert first is not None
        assert first.sql() == ("r.label" if reviewed else "g.label")
    assert "[label_reviews]" in group_members_sql(TSQL, True)
    assert '"label_reviews"' in group_members_sql(DUCKDB, True)
