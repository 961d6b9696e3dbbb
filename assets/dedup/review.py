"""Contact sheets for reviewing the dedup decisions (pure: pandas and Pillow, no Dagster).

A sheet is a list of rows; each row is a duplicate group or a similar pair drawn as thumbnails
with the image's DHashHex3, pixel size and format written under it. The kept representative of a
group gets a green frame and the word KEPT; dropped copies a grey frame.
"""

import io
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from PIL import Image, ImageDraw, ImageFont, ImageOps

KEPT = (30, 150, 60)
DROPPED = (150, 150, 150)
INK = (20, 20, 20)
PAPER = (255, 255, 255)
UNREADABLE = (235, 225, 225)


@dataclass(frozen=True)
class Tile:
    """One thumbnail of a contact sheet, with its caption lines and whether it is the kept copy."""

    image_id: str
    lines: tuple[str, ...]
    kept: bool


@dataclass(frozen=True)
class SheetRow:
    """One row of a contact sheet: a title and its thumbnails."""

    title: str
    tiles: tuple[Tile, ...]


def _size(width, height) -> str:
    if pd.isna(width) or pd.isna(height):
        return "?x?"
    return f"{int(width)}x{int(height)}"


def largest_groups(
    members: pd.DataFrame, max_groups: int = 6, max_members: int = 8, hash_size: int = 3
) -> list[SheetRow]:
    """Rows for the largest duplicate groups, representative first.

    ``members``: one row per image with group_id, group_size, image_id, is_representative,
    rank_in_group, reason_code, width, height, format and DHashHex<hash_size>.
    """
    hex_column = f"DHashHex{hash_size}"
    multi = members[members.group_size > 1]
    if multi.empty:
        return []
    order = (
        multi.groupby("group_id")
        .group_size.first()
        .reset_index()
        .sort_values(["group_size", "group_id"], ascending=[False, True])
        .head(max_groups)
    )
    rows = []
    for group_id, size in zip(order.group_id, order.group_size, strict=True):
        group = multi[multi.group_id == group_id].sort_values(["rank_in_group", "image_id"])
        tiles = tuple(
            Tile(
                image_id=m.image_id,
                lines=(
                    f"{hex_column} {m[hex_column]}",
                    f"{_size(m.width, m.height)} {m.format}",
                    "KEPT" if m.is_representative else str(m.reason_code),
                ),
                kept=bool(m.is_representative),
            )
            for _, m in group.head(max_members).iterrows()
        )
        shown = f" ({max_members} shown)" if size > max_members else ""
        label = group.label.iloc[0] if "label" in group else ""
        rows.append(SheetRow(f"group of {int(size)}{shown}, label {label}", tiles))
    return rows


def similar_pairs(
    pairs: pd.DataFrame, images: pd.DataFrame, max_pairs: int = 8, hash_size: int = 3
) -> list[SheetRow]:
    """Rows for similar_images pairs (equal at ``hash_size``, different at size 8), the most
    different first: those are the ones where the coarse rule may have merged two pictures.

    ``images``: image_id, width, height, format, DHashHex<hash_size>, DHashHex8, and
    is_representative when known.
    """
    if pairs.empty:
        return []
    hex_column = f"DHashHex{hash_size}"
    info = images.drop_duplicates("image_id").set_index("image_id")
    ordered = pairs.sort_values(["distance", "image_id_a", "image_id_b"], ascending=[False, 1, 1])
    rows = []
    for pair in ordered.head(max_pairs).itertuples(index=False):
        tiles = []
        for image_id in (pair.image_id_a, pair.image_id_b):
            row = info.loc[image_id] if image_id in info.index else None
            kept = bool(row is not None and row.get("is_representative", False))
            tiles.append(
                Tile(
                    image_id=image_id,
                    lines=(
                        f"{hex_column} {row[hex_column] if row is not None else '?'}",
                        f"DHashHex8 {str(row['DHashHex8'])[:6] if row is not None else '?'}...",
                        (f"{_size(row.width, row.height)} {row.format}" if row is not None else "?")
                        + (" KEPT" if kept else ""),
                    ),
                    kept=kept,
                )
            )
        near = bool(getattr(pair, "is_near_duplicate", False))
        verdict = "a near-duplicate" if near else "beyond the near-duplicate threshold"
        rows.append(
            SheetRow(
                f"equal at size {hash_size}, {int(pair.distance)} of 128 bits apart at size 8 "
                f"({verdict})",
                tuple(tiles),
            )
        )
    return rows


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _thumbnail(data: bytes | None, side: int) -> Image.Image | None:
    if data is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.draft("RGB", (side * 2, side * 2))
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except Exception:  # a reviewer's picture must not fail the run: draw a placeholder
        return None
    image.thumbnail((side, side))
    return image


def contact_sheet(
    title: str,
    rows: list[SheetRow],
    load: Callable[[str], bytes | None],
    thumb: int = 112,
    max_tiles: int = 8,
) -> bytes:
    """Draw ``rows`` as one PNG; ``load(image_id)`` gives an image's bytes or None."""
    font, bold = _font(12), _font(15)
    pad, caption, heading = 8, 48, 24
    tile_w, tile_h = thumb + 2 * pad, thumb + caption + 2 * pad
    columns = max([min(len(r.tiles), max_tiles) for r in rows] + [3])
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    titles = [measure.textlength(title, font=bold)] + [
        measure.textlength(r.title, font=font) for r in rows
    ]
    width = int(max(columns * tile_w, max(titles))) + 2 * pad
    height = heading + pad + max(len(rows), 1) * (heading + tile_h) + pad
    sheet = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(sheet)
    draw.text((pad, pad), title, fill=INK, font=bold)
    y = heading + pad
    if not rows:
        draw.text((pad, y + pad), "nothing to review", fill=INK, font=font)
    for row in rows:
        draw.text((pad, y + 4), row.title, fill=INK, font=font)
        y += heading
        for i, tile in enumerate(row.tiles[:max_tiles]):
            x = pad + i * tile_w
            frame = KEPT if tile.kept else DROPPED
            draw.rectangle(
                (x + 2, y + 2, x + tile_w - 3, y + tile_h - 3),
                outline=frame,
                width=4 if tile.kept else 1,
            )
            image = _thumbnail(load(tile.image_id), thumb)
            if image is None:
                draw.rectangle(
                    (x + pad, y + pad, x + pad + thumb, y + pad + thumb), fill=UNREADABLE
                )
                draw.text((x + pad + 4, y + pad + 4), "not readable", fill=INK, font=font)
            else:
                left = x + pad + (thumb - image.width) // 2
                top = y + pad + (thumb - image.height) // 2
                sheet.paste(image, (left, top))
            for n, line in enumerate(tile.lines):
                colour = KEPT if tile.kept and line.endswith("KEPT") else INK
                draw.text((x + pad, y + pad + thumb + 2 + n * 15), line, fill=colour, font=font)
        y += tile_h
    buffer = io.BytesIO()
    # A 256-colour palette keeps the sheet small enough to embed in the event log.
    sheet.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        buffer, format="PNG", optimize=True
    )
    return buffer.getvalue()
