"""Which incoming blobs are new: the new-blobs sensor's cursor and tick plan (pure, no Dagster).

The cursor is a low-water mark plus the blobs already taken near it:

* ``low_water``: the newest last-modified time of any blob taken so far.
* ``seen``: ``name -> (etag, last_modified)`` for every blob taken whose last-modified time lies
  within ``lookback`` of the low-water mark.

A tick considers every listed blob modified at or after ``low_water - lookback`` and takes the
ones whose (name, etag) is not in ``seen``. The look-back window catches blobs that become
visible late with an earlier timestamp (clock skew between writers, uploads committed out of
order, several blobs in the same second); ``seen`` keeps those already taken from being taken
again. An overwritten blob has a new etag (and a new last-modified time), so it is new content.
A deleted blob simply stops being listed. Blobs are taken oldest first, so when a tick takes only
part of what is new the rest is still at or after the advanced mark on the next tick.
"""

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from assets.inference.windows import evening_of
from assets.ingest.sources import path_skip_reason
from resources.blobs import BlobInfo

CURSOR_VERSION = 1


@dataclass(frozen=True)
class BlobCursor:
    """Where new_blobs_sensor has read up to: a last-modified mark and the (name, etag) pairs taken
    within the look-back window."""

    low_water: datetime | None = None
    seen: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": CURSOR_VERSION,
                "low_water": self.low_water.isoformat() if self.low_water else None,
                "seen": [
                    [name, etag, modified.isoformat()]
                    for name, (etag, modified) in sorted(self.seen.items())
                ],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> "BlobCursor":
        if not text:
            return cls()
        raw = json.loads(text)
        if raw.get("version") != CURSOR_VERSION:
            raise ValueError(f"unknown new-blobs cursor version {raw.get('version')!r}")
        low = raw.get("low_water")
        return cls(
            low_water=datetime.fromisoformat(low) if low else None,
            seen={name: (etag, datetime.fromisoformat(ts)) for name, etag, ts in raw["seen"]},
        )


@dataclass(frozen=True)
class TickPlan:
    """What one tick requests: batches of new blobs, the cursor after them and what waits."""

    batches: list[list[BlobInfo]]
    cursor: BlobCursor
    considered: int  # blobs listed inside the window
    waiting: int  # new blobs left for the next tick (more than the tick may request)
    # New blobs left out by the catalog's listing policy (hidden files and folders, OS
    # droppings): (name, reason), reported once; the cursor records them as seen.
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _policy_skip(name: str, prefix: str) -> str | None:
    """Why the catalog's policy leaves this blob out (``assets.ingest.sources.skip_reason``),
    or None. Folder markers are not files and are ignored without a word."""
    rel = name[len(prefix) :]
    if not rel or rel.endswith("/"):
        return "folder"
    return path_skip_reason(rel)


def plan_tick(
    listing: Iterable[BlobInfo],
    cursor: BlobCursor,
    lookback: timedelta,
    max_batch: int,
    max_batches: int,
    prefix: str = "",
) -> TickPlan:
    """The batches to request for ``listing`` and the cursor that records them as taken."""
    since = cursor.low_water - lookback if cursor.low_water else None
    considered = 0
    new: list[BlobInfo] = []
    skipped: list[BlobInfo] = []
    reasons: dict[str, str] = {}
    for blob in listing:
        if since is not None and blob.last_modified < since:
            continue
        reason = _policy_skip(blob.name, prefix)
        if reason == "folder":
            continue
        if reason is not None:
            taken = cursor.seen.get(blob.name)
            if taken is None or taken[0] != blob.etag:
                skipped.append(blob)
                reasons[blob.name] = reason
            continue
        considered += 1
        taken = cursor.seen.get(blob.name)
        if taken is None or taken[0] != blob.etag:
            new.append(blob)
    new.sort(key=lambda b: (b.last_modified, b.name))
    skipped.sort(key=lambda b: (b.last_modified, b.name))
    reported = [(b.name, reasons[b.name]) for b in skipped]
    # Skipped blobs count as seen, so each is reported once, not on every tick of its window.
    seen = {**cursor.seen, **{b.name: (b.etag, b.last_modified) for b in skipped}}
    chosen = new[: max_batch * max_batches]
    if not chosen:
        return TickPlan([], _pruned(cursor.low_water, seen, lookback), considered, 0, reported)
    newest = chosen[-1].last_modified
    low = max(cursor.low_water, newest) if cursor.low_water else newest
    seen |= {b.name: (b.etag, b.last_modified) for b in chosen}
    batches = [chosen[i : i + max_batch] for i in range(0, len(chosen), max_batch)]
    return TickPlan(
        batches, _pruned(low, seen, lookback), considered, len(new) - len(chosen), reported
    )


def _pruned(
    low: datetime | None, seen: dict[str, tuple[str, datetime]], lookback: timedelta
) -> BlobCursor:
    if low is None:
        return BlobCursor(None, dict(seen))
    since = low - lookback
    return BlobCursor(low, {n: v for n, v in seen.items() if v[1] >= since})


def batch_id(batch: Sequence[BlobInfo]) -> str:
    """A stable id of a batch's exact content: the same names and etags give the same id."""
    lines = sorted(f"{b.name}\t{b.etag}" for b in batch)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:20]


def listing_prefixes(
    prefix: str,
    date_folders: str,
    low_water: datetime | None,
    lookback: timedelta,
    now: datetime,
    max_folders: int = 62,
) -> list[str]:
    """The prefixes one tick lists.

    Without a date-folder layout, or before the first blob was taken, the whole prefix. With a
    layout such as ``%Y/%m/%d``, one prefix per day from the day before the look-back window
    starts to the day after ``now`` (a day of slack on each side for writers in other time
    zones), so a tick lists only recent folders; past ``max_folders`` days it lists everything.
    """
    if not date_folders or low_water is None:
        return [prefix]
    first = (low_water - lookback).astimezone(UTC).date() - timedelta(days=1)
    last = now.astimezone(UTC).date() + timedelta(days=1)
    days = (last - first).days + 1
    if days > max_folders or days < 1:
        return [prefix]
    return [
        f"{prefix}{(first + timedelta(days=i)).strftime(date_folders).strip('/')}/"
        for i in range(days)
    ]


def arrival_days(batch: Sequence[BlobInfo], timezone: str) -> list[date]:
    """The evenings (nightly partitions: 23:00 the day before up to 23:00, in the partitions'
    timezone) whose windows hold the batch's blobs."""
    return sorted({evening_of(b.last_modified, timezone) for b in batch})
