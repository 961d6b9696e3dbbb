"""Charts shown on materialisations, as PNG bytes (pure: pandas and matplotlib, no Dagster).

Matplotlib's object API on an Agg canvas: no pyplot global state, safe in worker threads.
"""

import io
import unicodedata
import warnings

import numpy as np
import pandas as pd


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def shown(text: object) -> str:
    """``text`` as a chart draws it: control and format characters (a label may hold any
    character a folder name allows) written as escapes instead of invisible glyphs."""
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch) in ("Cc", "Cf")
        else ch
        for ch in str(text)
    )


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # A label in a script the bundled font lacks is drawn as a box: legible enough for a
        # chart, and no reason to fail the materialisation that draws it.
        warnings.filterwarnings(
            "ignore", message="Glyph .* missing from font", category=UserWarning
        )
        figure.tight_layout()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _empty(title: str) -> bytes:
    figure = _figure(5, 2)
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.text(0.5, 0.5, "no rows", ha="center", va="center")
    axes.set_title(title)
    return _png(figure)


def warm_up() -> None:
    """Load matplotlib and its font cache by drawing an empty chart (about a second on a cold
    process): a step that waits on something else (a dbt subprocess) calls it in a thread, so its
    chart later costs only the drawing."""
    _empty("")


def unique_counts_png(counts: pd.DataFrame) -> bytes:
    """Distinct images per label as the hash size shrinks from 8 to 1 (the lab's table with
    columns label, images, Count8..Count1), one line per label."""
    title = "Distinct images per label by dHash size"
    sizes = [s for s in range(8, 0, -1) if f"Count{s}" in counts.columns]
    if counts.empty or not sizes:
        return _empty(title)
    figure = _figure(7.5, 4.5)
    axes = figure.add_subplot()
    for row in counts.sort_values("label").itertuples(index=False):
        values = [int(getattr(row, f"Count{s}")) for s in sizes]
        axes.plot(sizes, values, marker="o", label=f"{shown(row.label)} ({int(row.images)} images)")
    axes.set_xlim(max(sizes) + 0.3, min(sizes) - 0.3)  # 8 on the left: coarser to the right
    axes.set_xticks(sizes)
    axes.set_xlabel("hash size (DHashHex<size>)")
    axes.set_ylabel("distinct hashes (images counted once)")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.set_title(title)
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(figure)


def _stacked_bars(table: pd.DataFrame, title: str, xlabel: str, ylabel: str, legend: str) -> bytes:
    """Bars for ``table``'s index, stacked by its columns, with the totals on top."""
    if table.empty:
        return _empty(title)
    width = min(max(5.0, 0.5 * len(table) + 3.0), 20.0)
    figure = _figure(width, 4.5)
    axes = figure.add_subplot()
    positions = np.arange(len(table))
    bottom = np.zeros(len(table))
    for column in table.columns:
        values = table[column].to_numpy(dtype=float)
        axes.bar(positions, values, bottom=bottom, label=shown(column))
        bottom += values
    for x, total in zip(positions, bottom, strict=True):
        axes.text(x, total, f"{int(total)}", ha="center", va="bottom", fontsize=8)
    axes.set_xticks(positions, [shown(i) for i in table.index], rotation=45, ha="right")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(title=legend, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(figure)


def split_counts_png(split: pd.DataFrame) -> bytes:
    """Images per label on each side (``split``: one row per image with label and split);
    the kept representatives only when ``is_representative`` is present."""
    if "is_representative" in split:
        split = split[split.is_representative.astype(bool)]
    table = (
        split.groupby(["label", "split"]).size().unstack("split", fill_value=0)
        if len(split)
        else pd.DataFrame()
    )
    ordered = [c for c in ("train", "test") if c in table.columns]
    table = table[ordered + [c for c in table.columns if c not in ordered]]
    return _stacked_bars(table, "Kept images per label, train and test", "label", "images", "side")


def predictions_per_night_png(predictions: pd.DataFrame) -> bytes:
    """Predicted images per night, stacked by predicted class (``predictions``: one row per
    prediction with partition_date and predicted_label)."""
    table = (
        predictions.groupby(["partition_date", "predicted_label"])
        .size()
        .unstack("predicted_label", fill_value=0)
        .sort_index()
        if len(predictions)
        else pd.DataFrame()
    )
    return _stacked_bars(
        table, "Nightly predictions per class", "night", "images", "predicted class"
    )
