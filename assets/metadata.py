"""Small helpers that turn results into Dagster metadata people want to read."""

import base64
import re
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a table is rendered, not with the code location
    import pandas as pd

# What Markdown (GFM table cells: emphasis, links, code, strikethrough, raw HTML, entities) would
# interpret. An underscore inside a word never starts emphasis in GFM, so only one at a word's
# edge is escaped (reason codes such as no_label_folder read as they are).
_MARKDOWN_SPECIAL = re.compile(r"[\\`*\[\]<>|~&]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def md_escape(text: str) -> str:
    """``text`` shown literally in a Markdown table cell: control characters (newlines, tabs
    ...) as visible escapes, every character Markdown or HTML would interpret backslash-escaped."""
    text = _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(), text)
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _cell(value) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, (list, tuple, dict)) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    # Shorten first, then escape: an escape is never cut in half.
    return md_escape(text if len(text) <= 80 else text[:77] + "...")


def md_table(df: "pd.DataFrame", max_rows: int = 20) -> str:
    """A Markdown table (rendered by the Dagster UI) of the first ``max_rows`` rows."""
    if df.empty:
        return "_no rows_"
    shown = df.head(max_rows)
    lines = [
        "| " + " | ".join(md_escape(str(c)) for c in shown.columns) + " |",
        "| " + " | ".join("---" for _ in shown.columns) + " |",
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in shown.itertuples(False)]
    if len(df) > max_rows:
        lines.append(f"\n_{len(df) - max_rows} more rows not shown_")
    return "\n".join(lines)


def md_image(png: bytes, alt: str) -> str:
    """Markdown showing ``png`` inline (a data URI), as the Dagster UI renders it."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


class PhaseClock:
    """Wall-clock seconds of a step's phases, for its metadata: ``lap(name)`` charges the time
    since the previous lap (or since the clock was made) to ``name``; a name lapped several
    times (once per batch) adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._last
        self._last = now

    def rounded(self, digits: int = 2) -> dict[str, float]:
        return {phase: round(s, digits) for phase, s in self.seconds.items()}
