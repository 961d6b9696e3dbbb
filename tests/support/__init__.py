"""Helpers shared by the test folders (fixtures stay in the conftest files that pytest reads).

- ``services``: the repository path, Azurite's development account, free ports, PostgreSQL.
- ``images``: small real images cut from photographs shipped inside installed packages.
- ``dedup_tables``: stand-in dedup tables for the split and publish tests.
- ``dedup_reference``: an independent plain-Python statement of ``duplicate_groups``.
- ``chain``: the whole chain as a person runs it, its source collection and a night's arrivals.
- ``harness``: snapshots of everything a run leaves, their comparison, runs killed on purpose.
- ``runner``: runs jobs of the code location in a child process (``-m tests.support.runner``).
- ``sources``: hostile names written past the platform's checks, curation runs on real stores.
"""
