"""An independent, plain-Python statement of what ``duplicate_groups`` must hold.

Groups are the components (union-find) of equal size-k hashes and the near-duplicate links;
the keep rule and every reason are spelled out row by row, so the SQL can be compared with
something that shares none of its shape (no windows, no stars, no iteration).
"""

from collections import defaultdict
from collections.abc import Iterable

import pandas as pd

from assets.dedup.synthetic import hamming


class UnionFind:
    """Components of linked image ids, each named by its smallest id."""

    def __init__(self, items: Iterable[str]):
        self.parent = {i: i for i in items}

    def find(self, x: str) -> str:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # the smaller id as root, so find() gives the group's smallest member
            self.parent[max(ra, rb)] = min(ra, rb)


def components(images: pd.DataFrame, links: Iterable[tuple[str, str]], k: int) -> dict[str, str]:
    """image_id -> smallest image_id of its component."""
    uf = UnionFind(images.image_id)
    for _, bucket in images.groupby([f"dhash{k}_row", f"dhash{k}_col"]):
        ids = sorted(bucket.image_id)
        for other in ids[1:]:
            uf.union(ids[0], other)
    for a, b in links:
        uf.union(a, b)
    return {i: uf.find(i) for i in images.image_id}


def expand_links(links: pd.DataFrame, images: pd.DataFrame) -> dict[tuple[str, str], int]:
    """Every image pair the stored links stand for: two images are near-duplicates iff they
    share a size-8 hash (same centre) or their hashes' centres are linked."""
    by_hash = images.groupby(["dhash8_row", "dhash8_col"]).image_id.apply(sorted)
    centre_members = {ids[0]: ids for ids in by_hash}
    pairs = {}
    for ids in centre_members.values():
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                pairs[(a, b)] = 0
    for row in links.itertuples(index=False):
        if row.distance == 0:
            continue
        for a in centre_members[row.image_id_a]:
            for b in centre_members[row.image_id_b]:
                pairs[(min(a, b), max(a, b))] = row.distance
    return pairs


def expected_duplicate_groups(
    images: pd.DataFrame, links: pd.DataFrame, k: int, threshold: int
) -> pd.DataFrame:
    """The rows of duplicate_groups (decision columns) for ``images`` (stg_images columns) and
    near-duplicate ``links`` (image_id_a, image_id_b, distance: all pairs or the stored star)."""
    same = f"same_dhash{k}"
    links = list(links[["image_id_a", "image_id_b", "distance"]].itertuples(index=False))
    group_of = components(images, ((a, b) for a, b, _ in links), k)
    info = images.set_index("image_id")
    bucket = {i: (r[f"dhash{k}_row"], r[f"dhash{k}_col"]) for i, r in info.iterrows()}
    hash8 = {i: (int(r.dhash8_row), int(r.dhash8_col)) for i, r in info.iterrows()}
    bucket_ids = defaultdict(list)
    for i, b in bucket.items():
        bucket_ids[b].append(i)
    for ids in bucket_ids.values():
        ids.sort()
    nearest: dict[str, tuple[int, str]] = {}
    for a, b, d in links:
        for x, y in ((a, b), (b, a)):
            if x not in nearest or (d, y) < nearest[x]:
                nearest[x] = (d, y)
    members = defaultdict(list)
    for i, g in group_of.items():
        members[g].append(i)

    sizes = {
        i: tuple(-1 if pd.isna(r[c]) else int(r[c]) for c in ("width", "height", "byte_size"))
        for i, r in info.iterrows()
    }

    def keep_key(i):
        width, height, byte_size = sizes[i]
        return (-width, -height, -byte_size, i)

    rows = []
    for group_id, ids in members.items():
        ranked = sorted(ids, key=keep_key)
        rep = ranked[0]
        rep_hash = hash8[rep]
        for rank, i in enumerate(ranked, start=1):
            d_rep = hamming(hash8[i], rep_hash)
            linked = None
            if rank == 1:
                code = "unique" if len(ids) == 1 else "representative"
                reason = (
                    "kept: no duplicate"
                    if len(ids) == 1
                    else f"kept: largest of {len(ids)} duplicates"
                )
            elif bucket[i] == bucket[rep]:
                code, linked = same, rep
                reason = f"{same} as {rep}"
            elif d_rep <= threshold:
                code, linked = "near_duplicate", rep
                reason = f"near_duplicate (distance {d_rep}) of {rep}"
            else:
                code = "transitive"
                if i in nearest:
                    d, linked = nearest[i]
                    via = f"near_duplicate (distance {d}) of "
                else:
                    ids_b = bucket_ids[bucket[i]]
                    linked = ids_b[1] if i == ids_b[0] else ids_b[0]
                    via = f"{same} as "
                reason = f"transitive duplicate of {rep}: {via}{linked}"
            rows.append(
                {
                    "image_id": i,
                    "group_id": group_id,
                    "group_size": len(ids),
                    "is_representative": rank == 1,
                    "representative_image_id": rep,
                    "rank_in_group": rank,
                    "reason_code": code,
                    "reason": reason,
                    "linked_image_id": linked,
                    "distance_to_representative": d_rep,
                }
            )
    return pd.DataFrame(rows).sort_values("image_id", ignore_index=True)


DECISION_COLUMNS = [
    "image_id",
    "group_id",
    "group_size",
    "is_representative",
    "representative_image_id",
    "rank_in_group",
    "reason_code",
    "reason",
    "linked_image_id",
    "distance_to_representative",
]
