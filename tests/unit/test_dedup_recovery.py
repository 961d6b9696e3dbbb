"""Which absent parent tables a partial dedup build must build first."""

from assets.dedup.recovery import missing_parents


def _manifest(edges: dict[str, list[str]]) -> dict:
    models = {
        f"model.p.{name}": {
            "name": name,
            "resource_type": "model",
            "depends_on": {"nodes": [f"model.p.{p}" for p in parents] + ["source.p.raw"]},
        }
        for name, parents in edges.items()
    }
    test = {"test.p.t": {"name": "t", "resource_type": "test", "depends_on": {"nodes": []}}}
    return {"nodes": models | test}


MANIFEST = _manifest(
    {
        "stg": [],
        "pairs": ["stg"],
        "trim": ["stg"],
        "groups": ["pairs", "trim", "stg"],
        "unique": ["groups"],
    }
)


def test_absent_parents_and_their_absent_parents_are_built_first():
    absent = {"stg", "pairs"}
    assert missing_parents(MANIFEST, ["groups"], lambda m: m not in absent) == ["pairs", "stg"]


def test_a_present_parent_is_used_as_it_is_and_selected_models_are_left_to_the_build():
    # stg is absent and groups needs it directly; groups itself is selected, so built anyway.
    absent = {"stg", "groups"}
    assert missing_parents(MANIFEST, ["groups", "unique"], lambda m: m not in absent) == ["stg"]
    # unique's parent groups exists: what groups was built from is not needed.
    assert missing_parents(MANIFEST, ["unique"], lambda m: m != "stg") == []
    assert missing_parents(MANIFEST, ["stg", "pairs", "trim", "groups"], lambda m: False) == []
