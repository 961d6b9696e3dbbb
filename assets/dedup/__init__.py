"""Deduplication: the dbt project in dbt/ run by Dagster (duplicate groups, unique images)."""
