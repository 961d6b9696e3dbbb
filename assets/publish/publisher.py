"""Publishing one side of the split to a blob store (no Dagster import).

Idempotent and resumable by construction:

* blob names are deterministic (the lab's layout; a name already given to an image is kept;
  a new image whose DHashHex3 name is taken gets ``-<image_id prefix>`` appended), so a rerun
  can never write the same image twice under two names;
* before uploading, the side's folder is listed once: a blob whose etag is the one recorded at its
  last upload is unchanged without reading the source; otherwise the source is read and its MD5
  compared with the blob's, and only a missing or different blob is uploaded;
* images that left this side (a label changed, a group moved, the source file was overwritten or
  deleted) are removed — but only blobs this publisher wrote, never anything else under the
  prefix;
* bytes are uploaded only when their SHA-256 is the catalogued image_id: a source overwritten or
  deleted since it was catalogued is skipped (``source_changed``, ``source_missing``) instead of
  publishing other content under the image's name (or failing half-way), and its earlier blob is
  removed; curation, rerun, catalogues the new content;
* uploads run on a bounded thread pool and retry transient errors with exponential backoff.
"""

import functools
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from assets.publish.naming import (
    CONTENT_TYPES,
    FORMAT_EXTENSIONS,
    SPLIT_FOLDERS,
    join_blob_path,
    safe_labels,
)
from resources.retries import with_retries

if TYPE_CHECKING:  # the frames come from the caller; nothing here needs pandas at import
    import pandas as pd

DEFAULT_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP")
HASH_COLUMNS = [f"DHashHex{s}" for s in range(1, 9)]


def choose_publishable(
    members: "pd.DataFrame", allowed_formats: tuple[str, ...] = DEFAULT_FORMATS
) -> "pd.DataFrame":
    """One image per duplicate group: the kept one, or — when the kept one cannot be published
    (an animation, an encoding not published) — the best-ranked member that can, so a group is
    never lost just because its largest copy is a GIF. ``stands_in_for`` names the kept image a
    substitute replaces. Groups with no publishable member keep their representative (it is then
    listed as skipped)."""
    allowed = {f.upper() for f in allowed_formats} & set(FORMAT_EXTENSIONS)
    members = members.copy()
    fmt = members.format.fillna("").str.upper()
    members["publishable"] = fmt.isin(allowed) & ~members.is_animated.fillna(False).astype(bool)
    ordered = members.sort_values(
        ["group_id", "publishable", "rank_in_group", "image_id"],
        ascending=[True, False, True, True],
    )
    chosen = ordered.drop_duplicates("group_id").copy()
    reps = members[members.is_representative.astype(bool)].set_index("group_id").image_id
    chosen["stands_in_for"] = [
        reps.get(g) if not rep else None
        for g, rep in zip(chosen.group_id, chosen.is_representative.astype(bool), strict=True)
    ]
    return chosen.drop(columns=["publishable"]).reset_index(drop=True)


def plan_names(
    items: "pd.DataFrame",
    previous: "pd.DataFrame",
    split: str,
    prefix: str,
    allowed_formats: tuple[str, ...] = DEFAULT_FORMATS,
) -> "pd.DataFrame":
    """Decide, for every image on this side, its blob name or why it is skipped.

    ``items``: image_id, label, format, is_animated, DHashHex3 (+ anything to carry along).
    ``previous``: this side's earlier state (image_id, blob_name, status).
    Returns ``items`` with folder, blob_name, status ('publish' | 'skipped'), reason.
    """
    items = items.copy().sort_values("image_id").reset_index(drop=True)
    folders = safe_labels(items.label)
    items["folder"] = items.label.astype(str).map(folders)
    allowed = {f.upper() for f in allowed_formats}
    fmt = items.format.fillna("").str.upper()
    items["status"] = "publish"
    items["reason"] = None
    not_allowed = ~fmt.isin(allowed) | ~fmt.isin(FORMAT_EXTENSIONS)
    items.loc[not_allowed, ["status", "reason"]] = ["skipped", "format_not_published"]
    animated = items.is_animated.fillna(False).astype(bool) & (items.status == "publish")
    items.loc[animated, ["status", "reason"]] = ["skipped", "animated"]

    side = SPLIT_FOLDERS[split]
    prev_names = {}
    if len(previous):
        published = previous[previous.status == "published"]
        prev_names = dict(zip(published.image_id, published.blob_name, strict=False))
    names: list[str | None] = [None] * len(items)
    used: set[str] = set()
    pending = []
    for i, row in items.iterrows():
        if row.status != "publish":
            continue
        ext = FORMAT_EXTENSIONS[str(row.format).upper()]
        stem = str(row.DHashHex3)
        directory = join_blob_path(prefix, side, row.folder)
        kept = prev_names.get(row.image_id)
        if kept and kept.rsplit("/", 1)[0] == directory and kept.endswith("." + ext):
            names[i] = kept
            used.add(kept)
        else:
            pending.append((i, directory, stem, ext, row.image_id))
    for i, directory, stem, ext, image_id in pending:
        name = f"{directory}/{stem}.{ext}"
        if name in used:
            name = f"{directory}/{stem}-{image_id[:12]}.{ext}"
        names[i] = name
        used.add(name)
    items["blob_name"] = names
    return items


@dataclass
class PublishReport:
    """What one publish did: a row per planned image and the counts the metadata shows."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # one per planned image
    uploaded: int = 0
    unchanged: int = 0
    source_gone: int = 0  # sources overwritten or deleted since they were catalogued
    removed: list[str] = field(default_factory=list)
    bytes_uploaded: int = 0
    failed: BaseException | None = None


def publish_side(
    plan: "pd.DataFrame",
    previous: "pd.DataFrame",
    store: Any,
    container: str,
    side_prefix: str,
    read_source: Callable[[str], bytes],
    max_concurrency: int = 8,
    retry_attempts: int = 4,
    retry_base_delay_s: float = 0.5,
) -> PublishReport:
    """Upload what is missing or changed; remove what this publisher wrote that left the side.

    Never raises mid-way: a failure stops new work and is returned in ``report.failed`` together
    with the rows that did complete, so the caller can record progress before failing the run.
    """
    existing = {info.name: info for info in store.list_blobs(container, side_prefix + "/")}
    prev_etag = {}
    prev_image = {}
    if len(previous):
        done = previous[previous.status == "published"]
        prev_etag = dict(zip(done.blob_name, done.etag, strict=False))
        prev_image = dict(zip(done.blob_name, done.image_id, strict=False))
    report = PublishReport()
    now = datetime.now(tz=UTC)

    def one(row: "pd.Series") -> dict[str, Any]:
        out = row.to_dict()
        out["published_at"] = now
        if row.status != "publish":
            out.update(md5=None, etag=None, byte_size=None, action="skipped")
            return out
        current = existing.get(row.blob_name)
        # Unchanged without reading the source only when this blob holds what this publisher
        # uploaded for this very image (a name can pass to another image when one is retired).
        if (
            current is not None
            and prev_etag.get(row.blob_name) == current.etag
            and prev_image.get(row.blob_name) == row.image_id
        ):
            out.update(md5=current.content_md5, etag=current.etag, byte_size=current.size)
            out.update(status="published", action="unchanged")
            return out
        try:
            data = with_retries(
                lambda: read_source(row.source_uri), retry_attempts, retry_base_delay_s
            )
        except FileNotFoundError:
            out.update(status="skipped", reason="source_missing", blob_name=None)
            out.update(md5=None, etag=None, byte_size=None, action="source_gone")
            return out
        if hashlib.sha256(data).hexdigest() != row.image_id:
            out.update(status="skipped", reason="source_changed", blob_name=None)
            out.update(md5=None, etag=None, byte_size=None, action="source_gone")
            return out
        md5 = hashlib.md5(data).hexdigest()
        if current is not None and current.content_md5 == md5:
            out.update(md5=md5, etag=current.etag, byte_size=current.size)
            out.update(status="published", action="unchanged")
            return out
        ext = row.blob_name.rsplit(".", 1)[-1]
        metadata = {
            "label": row.label,
            "image_id": row.image_id,
            "source_uri": row.source_uri,
            "group_id": row.get("group_id"),
            **{c: row[c] for c in HASH_COLUMNS if c in row},
        }
        info = with_retries(
            lambda: store.write_bytes(
                container, row.blob_name, data, content_type=CONTENT_TYPES[ext], metadata=metadata
            ),
            retry_attempts,
            retry_base_delay_s,
        )
        out.update(md5=md5, etag=info.etag, byte_size=info.size)
        out.update(status="published", action="uploaded")
        return out

    todo = [row for _, row in plan.iterrows()]
    with ThreadPoolExecutor(max_workers=max(1, max_concurrency)) as pool:
        futures = [pool.submit(one, row) for row in todo]
        for future in futures:
            try:
                out = future.result()
            except BaseException as exc:  # recorded, then re-raised by the caller
                if report.failed is None:
                    report.failed = exc
                    for other in futures:
                        other.cancel()
                continue
            report.rows.append(out)
            if out["action"] == "uploaded":
                report.uploaded += 1
                report.bytes_uploaded += int(out["byte_size"] or 0)
            elif out["action"] == "unchanged":
                report.unchanged += 1
            elif out["action"] == "source_gone":
                report.source_gone += 1

    if report.failed is None:
        keep = {r["blob_name"] for r in report.rows if r["status"] == "published"}
        ours = set(prev_etag)
        for name in sorted((ours - keep) & set(existing)):
            with_retries(functools.partial(store.delete, container, name), retry_attempts)
            report.removed.append(name)
    return report
