"""Which dedup tables a partial build needs first (pure, no Dagster).

A dbt model is built in one transaction (the old table stays until the new one replaces it), so
a killed build leaves each table either as it was or as rebuilt. A table that was never built
(its first build was killed, or a fresh warehouse) is simply absent, and a run that builds only
some models — a subset materialised from the UI, a job that selects one table — would then fail
on the missing parent. The dedup step builds those parents first (``missing_parents``).
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any


def model_parents(manifest: Mapping[str, Any]) -> dict[str, set[str]]:
    """Model name -> names of the models it selects from."""
    nodes = manifest.get("nodes", {})
    names = {uid: n["name"] for uid, n in nodes.items() if n.get("resource_type") == "model"}
    return {
        names[uid]: {names[p] for p in node.get("depends_on", {}).get("nodes", []) if p in names}
        for uid, node in nodes.items()
        if uid in names
    }


def missing_parents(
    manifest: Mapping[str, Any], selected: Iterable[str], exists: Callable[[str], bool]
) -> list[str]:
    """Models outside ``selected`` that some selected model needs, directly or through other
    unselected models, and whose table does not exist; sorted by name (dbt orders the build)."""
    parents = model_parents(manifest)
    selected = set(selected)
    missing: set[str] = set()
    seen: set[str] = set()
    todo = [p for m in selected for p in parents.get(m, ())]
    while todo:
        model = todo.pop()
        if model in seen or model in selected:
            continue
        seen.add(model)
        if not exists(model):
            missing.add(model)
            # An absent table's own parents must exist too before it can be built.
            todo.extend(parents.get(model, ()))
    return sorted(missing)
