"""How well a dedup rule finds the duplicates of a labelled collection (pure: no Dagster import).

A *labelled set* is a table of images, one row each, with its hashes (as ``image_hashes`` stores
them) and a true ``group``: images of one group are copies of one picture. ``evaluate`` links
the images the way a ``Rule`` says (the same links as the dbt models: equal size-k hashes,
size-8 hashes within a threshold, trimmed size-8 hashes within a threshold), takes the connected
components as predicted groups, and scores them:

* **pair precision / recall**: over all pairs of images, predicted together vs truly together;
* **recall per family**: the share of copies of each transform family that ended in the group
  of their group's original;
* **leakage**: the share of test images (after the platform's own split rule on the predicted
  groups) that have a true duplicate on the train side; that is what dedup is for.

The rule is brute force over all pairs (a labelled set has hundreds or thousands of images);
the dbt models find the same pairs without enumerating them.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from assets.hashing.engine import LINKABLE_CONTENT, PROBE_NAMES, Mode
from assets.splits.split import TEST, TRAIN, assign_splits

ANCHOR_FAMILIES = ("original", "tile")


@dataclass(frozen=True)
class Rule:
    """Which links make two images duplicates (any one of them suffices).

    ``same_size``: equal size-k row and column hashes (the lab's DHashHex3 rule at k = 3).
    ``threshold``: size-8 hashes at most this many bits apart. ``trim_threshold``: trimmed
    size-8 hashes (of the content boxes) at most this many bits apart. ``guard``: images whose
    content code says they carry no picture (blank, flat, too small) take no hash link at all.
    ``same_size_confirm``: equal size-k hashes link only when the size-8 or trimmed hashes are
    also within this many bits. ``confirm_size`` / ``confirm_distance`` / ``loose_threshold``:
    size-8 (or trimmed) hashes up to ``loose_threshold`` bits apart link when the size-
    ``confirm_size`` hashes are at most ``confirm_distance`` bits apart (two sizes agreeing).
    ``fine_size`` / ``fine_distance``: a second coarse rule of the multi-size link: size-8 (or
    trimmed) hashes up to ``loose_threshold`` bits apart also link when the size-``fine_size``
    hashes are at most ``fine_distance`` bits apart.
    ``other_size`` / ``other_threshold``: size-k hashes alone within a threshold (measured as a
    candidate only: no exact search of it scales, see benchmarks/README.md).
    ``centre_threshold``: centre hashes (``dhash8_centre_*``) at most this many bits apart.
    ``cut_threshold``: one image's area hash (``dhash8_area_*``) at most this many bits from a
    cut hash (``dhash8_cut_<side>_*``) of the other, or equal area hashes (the edge-cut link).
    """

    name: str
    same_size: int | None = 3
    threshold: int | None = None
    trim_threshold: int | None = None
    guard: bool = False
    same_size_confirm: int | None = None
    confirm_size: int | None = None
    confirm_distance: int = 0
    loose_threshold: int | None = None
    fine_size: int | None = None
    fine_distance: int = 0
    other_size: int | None = None
    other_threshold: int = 0
    centre_threshold: int | None = None
    cut_threshold: int | None = None


def _words(df: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    values = df[column]
    if values.dtype.kind == "f":
        raise ValueError(f"{column} is a float column: 64-bit hashes would be rounded")
    valid = values.notna().to_numpy()
    out = np.zeros(len(df), np.uint64)
    out[valid] = np.array([int(v) for v in values[valid]], dtype=np.int64).view(np.uint64)
    return out, valid


def _pair_distances(df: pd.DataFrame, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """All-pairs Hamming distances of the (row, col) words ``<prefix>_row/_col`` and validity."""
    rows, valid_r = _words(df, f"{prefix}_row")
    cols, valid_c = _words(df, f"{prefix}_col")
    dist = np.bitwise_count(rows[:, None] ^ rows[None, :]).astype(np.int16)
    dist += np.bitwise_count(cols[:, None] ^ cols[None, :])
    valid = valid_r & valid_c
    return dist, valid[:, None] & valid[None, :]


def _cross_distances(
    df: pd.DataFrame, prefix_a: str, prefix_b: str
) -> tuple[np.ndarray, np.ndarray]:
    """Hamming distances of every image's ``prefix_a`` hash to every image's ``prefix_b`` hash."""
    ra, va = _words(df, f"{prefix_a}_row")
    ca, _ = _words(df, f"{prefix_a}_col")
    rb, vb = _words(df, f"{prefix_b}_row")
    cb, _ = _words(df, f"{prefix_b}_col")
    dist = np.bitwise_count(ra[:, None] ^ rb[None, :]).astype(np.int16)
    dist += np.bitwise_count(ca[:, None] ^ cb[None, :])
    return dist, va[:, None] & vb[None, :]


def _edge_cut_links(df: pd.DataFrame, threshold: int) -> np.ndarray:
    """The edge-cut link (dbt model edge_cut_pairs): an area hash within ``threshold`` of the
    other image's cut hash (either way round), or equal area hashes."""
    dist, valid = _pair_distances(df, "dhash8_area")
    links = valid & (dist == 0)
    for side in ("top", "bottom", "left", "right"):
        cross, ok = _cross_distances(df, "dhash8_area", f"dhash8_cut_{side}")
        near = ok & (cross <= threshold)
        links |= near | near.T
    return links


def link_matrix(df: pd.DataFrame, rule: Rule) -> np.ndarray:
    """Boolean N x N: which pairs the rule links directly (the diagonal is false)."""
    n = len(df)
    links = np.zeros((n, n), bool)
    d8, v8 = _pair_distances(df, "dhash8")
    if {"dhash8_trim_row", "dhash8_trim_col"} <= set(df.columns):
        dt, vt = _pair_distances(df, "dhash8_trim")
    else:
        dt, vt = d8, np.zeros_like(v8)
    # The closer of the two size-8 views of a pair (plain, trimmed).
    nearest = np.minimum(np.where(v8, d8, 999), np.where(vt, dt, 999))
    if rule.same_size is not None:
        dist, valid = _pair_distances(df, f"dhash{rule.same_size}")
        same = valid & (dist == 0)
        if rule.same_size_confirm is not None:
            same &= nearest <= rule.same_size_confirm
        links |= same
    if rule.threshold is not None:
        links |= v8 & (d8 <= rule.threshold)
    if rule.trim_threshold is not None:
        links |= vt & (dt <= rule.trim_threshold)
    if rule.confirm_size is not None and rule.loose_threshold is not None:
        dist, valid = _pair_distances(df, f"dhash{rule.confirm_size}")
        links |= valid & (dist <= rule.confirm_distance) & (nearest <= rule.loose_threshold)
    if rule.fine_size is not None and rule.loose_threshold is not None:
        dist, valid = _pair_distances(df, f"dhash{rule.fine_size}")
        links |= valid & (dist <= rule.fine_distance) & (nearest <= rule.loose_threshold)
    if rule.other_size is not None:
        dist, valid = _pair_distances(df, f"dhash{rule.other_size}")
        links |= valid & (dist <= rule.other_threshold)
    if rule.centre_threshold is not None and "dhash8_centre_row" in df.columns:
        dist, valid = _pair_distances(df, "dhash8_centre")
        links |= valid & (dist <= rule.centre_threshold)
    if rule.cut_threshold is not None and "dhash8_area_row" in df.columns:
        links |= _edge_cut_links(df, rule.cut_threshold)
    if rule.guard and "content" in df.columns:
        ok = df.content.isin(LINKABLE_CONTENT).to_numpy()
        links &= ok[:, None] & ok[None, :]
    np.fill_diagonal(links, False)
    return links


def components(links: np.ndarray) -> np.ndarray:
    """Connected-component label (the smallest member index) of every node."""
    n = links.shape[0]
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(links, 1)), strict=True):
        a, b = find(int(i)), find(int(j))
        if a != b:
            parent[max(a, b)] = min(a, b)
    return np.array([find(i) for i in range(n)])


@dataclass
class Quality:
    """How one dedup rule scored on a labelled set: pairs, precision, recall, leakage."""

    rule: Rule
    images: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    precision: float
    recall: float
    leakage: float
    test_images: int
    leaking_test_images: int
    by_family: pd.DataFrame  # family, copies, found, recall
    missed: pd.DataFrame  # anchor, copy, family, strength, distance, trim_distance
    false_links: pd.DataFrame  # image_a, image_b, group_a, group_b
    predicted_group: np.ndarray = field(repr=False)


def _same(labels: np.ndarray) -> np.ndarray:
    return labels[:, None] == labels[None, :]


def _distance_or_none(dist: np.ndarray, valid: np.ndarray, i: int, j: int) -> float | None:
    return int(dist[i, j]) if valid[i, j] else None


def evaluate(df: pd.DataFrame, rule: Rule, seed: int = 0, ratio: float = 0.8) -> Quality:
    """Score ``rule`` on the labelled set ``df`` (see the module docstring for the columns).

    ``df`` needs ``key`` (a name), ``group`` (true group), ``family``, ``strength``, ``label``
    and the hash columns of ``image_hashes`` (``dhash<k>_row/_col``, ``dhash8_trim_row/_col``,
    ``content``). The split uses the platform's rule with ``seed`` and ``ratio``.
    """
    df = df.reset_index(drop=True)
    n = len(df)
    truth = pd.factorize(df.group)[0]
    predicted = components(link_matrix(df, rule))
    upper = np.triu(np.ones((n, n), bool), 1)
    same_true = _same(truth) & upper
    same_pred = _same(predicted) & upper
    true_pairs = int(same_true.sum())
    predicted_pairs = int(same_pred.sum())
    correct = int((same_true & same_pred).sum())
    precision = correct / predicted_pairs if predicted_pairs else 1.0
    recall = correct / true_pairs if true_pairs else 1.0

    dist8, valid8 = _pair_distances(df, "dhash8")
    if {"dhash8_trim_row", "dhash8_trim_col"} <= set(df.columns):
        dist_t, valid_t = _pair_distances(df, "dhash8_trim")
    else:
        dist_t, valid_t = dist8, np.zeros_like(valid8)
    anchors = {
        g: i
        for i, (g, fam) in enumerate(zip(df.group, df.family, strict=True))
        if fam in ANCHOR_FAMILIES
    }
    found_rows, missed_rows = [], []
    for i, (group, family) in enumerate(zip(df.group, df.family, strict=True)):
        anchor = anchors.get(group)
        if family in ANCHOR_FAMILIES or anchor is None:
            continue
        hit = predicted[i] == predicted[anchor]
        found_rows.append((family, hit))
        if not hit:
            missed_rows.append(
                {
                    "anchor": df.key[anchor],
                    "copy": df.key[i],
                    "family": family,
                    "strength": df.strength[i],
                    "distance": _distance_or_none(dist8, valid8, anchor, i),
                    "trim_distance": _distance_or_none(dist_t, valid_t, anchor, i),
                }
            )
    found = pd.DataFrame(found_rows, columns=["family", "found"])
    by_family = (
        found.groupby("family", sort=False)
        .found.agg(copies="size", found="sum")
        .reset_index()
        .assign(recall=lambda t: t.found / t.copies)
    )
    wrong = np.nonzero(same_pred & ~_same(truth) & upper)
    false_links = pd.DataFrame(
        {
            "image_a": df.key.to_numpy()[wrong[0]],
            "image_b": df.key.to_numpy()[wrong[1]],
            "group_a": df.group.to_numpy()[wrong[0]],
            "group_b": df.group.to_numpy()[wrong[1]],
        }
    )
    leak, tests = leakage(df, predicted, seed, ratio)
    return Quality(
        rule=rule,
        images=n,
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
        correct_pairs=correct,
        precision=precision,
        recall=recall,
        leakage=leak / tests if tests else 0.0,
        test_images=tests,
        leaking_test_images=leak,
        by_family=by_family,
        missed=pd.DataFrame(
            missed_rows,
            columns=["anchor", "copy", "family", "strength", "distance", "trim_distance"],
        ),
        false_links=false_links,
        predicted_group=predicted,
    )


def leakage(df: pd.DataFrame, predicted: np.ndarray, seed: int, ratio: float) -> tuple[int, int]:
    """(test images with a true duplicate on the train side, test images) after the platform's
    split of the predicted groups (largest image of each group kept as representative)."""
    members = pd.DataFrame(
        {
            "image_id": df.key.astype(str),
            "group_id": [str(df.key[g]) for g in predicted],
            "label": df.label,
            "is_representative": [i == g for i, g in enumerate(predicted)],
        }
    )
    sides = assign_splits(members, pd.DataFrame(columns=["image_id", "split"]), ratio, seed)
    side = dict(zip(sides.assignments.image_id, sides.assignments.split, strict=True))
    split = df.key.map(side).to_numpy()
    train_groups = set(df.group[split == TRAIN])
    is_test = split == TEST
    leaking = int((is_test & df.group.isin(train_groups).to_numpy()).sum())
    return leaking, int(is_test.sum())


def summary_row(q: Quality) -> dict:
    return {
        "rule": q.rule.name,
        "precision": round(q.precision, 4),
        "recall": round(q.recall, 4),
        "leakage": round(q.leakage, 4),
        "pairs found": f"{q.correct_pairs}/{q.true_pairs}",
        "false pairs": q.predicted_pairs - q.correct_pairs,
    }


def family_table(qualities: list[Quality]) -> pd.DataFrame:
    """Recall per family (rows) for each rule (columns), with the number of copies."""
    table: pd.DataFrame | None = None
    for q in qualities:
        col = q.by_family.set_index("family")
        part = pd.DataFrame({q.rule.name: col.recall.round(3)})
        if table is None:
            table = pd.DataFrame({"copies": col.copies}).join(part)
        else:
            table = table.join(part)
    if table is None:
        raise ValueError("family_table needs at least one rule's quality")
    return table.reset_index()


def hash_labelled(
    root, manifest: pd.DataFrame, mode: Mode = "exact", workers: int = 2
) -> pd.DataFrame:
    """The labelled files under ``root`` (manifest columns ``file``, ``group``, ``family``,
    ``strength``) hashed with the platform's engine, in the columns ``image_hashes`` stores.

    A file that cannot be decoded keeps its row with empty hashes (it links nothing).
    """
    from pathlib import Path

    from assets.decode import UndecodableImageError
    from assets.hashing.engine import hash_many

    root = Path(root)
    rows = []
    items = ((f, (lambda p=root / f: p.read_bytes())) for f in manifest.file)
    for file, result in hash_many(items, range(1, 9), mode, workers=workers):
        row = {"key": file}
        if isinstance(result, UndecodableImageError):
            row["content"] = f"undecodable: {result.reason}"
        else:
            for size in result.sizes:
                row[f"dhash{size}_row"] = result[size].row_int64
                row[f"dhash{size}_col"] = result[size].col_int64
            row["dhash8_trim_row"] = result.dhash8_trim_row
            row["dhash8_trim_col"] = result.dhash8_trim_col
            for name in PROBE_NAMES:
                words = result.probe(name)
                row[f"dhash8_{name}_row"], row[f"dhash8_{name}_col"] = words or (None, None)
            row["content"] = result.content
            row["width"], row["height"] = result.width, result.height
        rows.append(row)
    hashes = pd.DataFrame(rows)
    # Nullable integers built from the Python values: a float column (pandas' choice for
    # integers with gaps) would round 64-bit hashes.
    for column in hashes.columns:
        if column.startswith("dhash"):
            hashes[column] = pd.array([r.get(column) for r in rows], dtype="Int64")
    out = manifest.rename(columns={"file": "key"}).merge(hashes, on="key", how="left")
    if "label" not in out.columns:
        out["label"] = out.key.str.split("/").str[0]
    return out


# The rules the benchmark compares. The shipped one is read from the dbt project's variables,
# so the score is the score of what duplicate_groups does.
LAB_RULE = Rule("lab: equal DHashHex3", same_size=3)
PREVIOUS_RULE = Rule("previous defaults: DHashHex3 or size 8 <= 8", same_size=3, threshold=8)


def rule_from_vars(variables: dict, name: str = "shipped defaults") -> Rule:
    """The rule duplicate_groups applies with these dbt variables (dbt_project.yml ``vars``)."""
    same_link = bool(variables.get("dedup_same_hash_link", True))
    trim = variables.get("near_duplicate_trim_threshold")
    confirm = int(variables.get("near_duplicate_confirm_distance", -1))
    fine = int(variables.get("near_duplicate_fine_distance", -1))
    centre = int(variables.get("near_duplicate_centre_threshold", -1))
    cut = int(variables.get("near_duplicate_cut_threshold", -1))
    loose = confirm >= 0 or fine >= 0
    return Rule(
        name,
        same_size=int(variables["dedup_hash_size"]) if same_link else None,
        threshold=int(variables["near_duplicate_threshold"]),
        trim_threshold=None if trim is None or int(trim) < 0 else int(trim),
        guard=True,
        confirm_size=int(variables["near_duplicate_confirm_size"]) if confirm >= 0 else None,
        confirm_distance=max(confirm, 0),
        loose_threshold=int(variables["near_duplicate_loose_threshold"]) if loose else None,
        fine_size=int(variables["near_duplicate_fine_size"]) if fine >= 0 else None,
        fine_distance=max(fine, 0),
        centre_threshold=centre if centre >= 0 else None,
        cut_threshold=cut if cut >= 0 else None,
    )


def evaluate_pairs(
    images: pd.DataFrame, pairs: pd.DataFrame, rule: Rule, seed: int = 0, ratio: float = 0.8
) -> Quality:
    """Score ``rule`` on labelled pairs of ``images`` (a user's own labels).

    ``images``: ``key``, ``label`` and the hash columns, one row per image. ``pairs``:
    ``image_a``, ``image_b`` (keys), ``duplicate`` (bool) and ``family``. Precision and recall
    are over the labelled pairs only (predicted together = same connected component of the
    rule's links among these images); the true groups for leakage are the components of the
    pairs labelled duplicate.
    """
    images = images.reset_index(drop=True)
    index = {k: i for i, k in enumerate(images.key)}
    predicted = components(link_matrix(images, rule))
    truth_links = np.zeros((len(images),) * 2, bool)
    for a, b in pairs.loc[pairs.duplicate, ["image_a", "image_b"]].itertuples(index=False):
        truth_links[index[a], index[b]] = truth_links[index[b], index[a]] = True
    truth = components(truth_links)
    ia = pairs.image_a.map(index).to_numpy()
    ib = pairs.image_b.map(index).to_numpy()
    together = predicted[ia] == predicted[ib]
    positive = pairs.duplicate.to_numpy(bool)
    correct = int((together & positive).sum())
    predicted_pairs = int(together.sum())
    d8, v8 = _pair_distances(images, "dhash8")
    dt, vt = _pair_distances(images, "dhash8_trim")
    missed = pairs[positive & ~together]
    by_family = (
        pd.DataFrame({"family": pairs.family[positive], "found": together[positive]})
        .groupby("family", sort=False)
        .found.agg(copies="size", found="sum")
        .reset_index()
        .assign(recall=lambda t: t.found / t.copies)
    )
    wrong = pairs[~positive & together]
    leak_df = images.assign(group=[str(images.key[g]) for g in truth])
    leak, tests = leakage(leak_df, predicted, seed, ratio)
    return Quality(
        rule=rule,
        images=len(images),
        true_pairs=int(positive.sum()),
        predicted_pairs=predicted_pairs,
        correct_pairs=correct,
        precision=correct / predicted_pairs if predicted_pairs else 1.0,
        recall=correct / positive.sum() if positive.sum() else 1.0,
        leakage=leak / tests if tests else 0.0,
        test_images=tests,
        leaking_test_images=leak,
        by_family=by_family,
        missed=pd.DataFrame(
            {
                "anchor": missed.image_a,
                "copy": missed.image_b,
                "family": missed.family,
                "strength": missed.get("strength", pd.Series("", index=missed.index)),
                "distance": [
                    _distance_or_none(d8, v8, index[a], index[b])
                    for a, b in zip(missed.image_a, missed.image_b, strict=True)
                ],
                "trim_distance": [
                    _distance_or_none(dt, vt, index[a], index[b])
                    for a, b in zip(missed.image_a, missed.image_b, strict=True)
                ],
            }
        ),
        false_links=pd.DataFrame(
            {
                "image_a": wrong.image_a,
                "image_b": wrong.image_b,
                "group_a": "",
                "group_b": "",
            }
        ),
        predicted_group=predicted,
    )
