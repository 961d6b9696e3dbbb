"""Small helpers that turn results into Dagster metadata people want to read."""

import base64
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a table is rendered, not with the code location
    import pandas as pd


def _cell(value) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, (list, tuple, dict)) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def md_table(df: "pd.DataFrame", max_rows: int = 20) -> str:
    """A Markdown table (rendered by the Dagster UI) of the first ``max_rows`` rows."""
    if df.empty:
        return "_no rows_"
    shown = df.head(max_rows)
    lines = [
        "| " + " | ".join(str(c) for c in shown.columns) + " |",
        "| " + " | ".join("---" for _ in shown.columns) + " |",
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in shown.itertuples(False)]
    if len(df) > max_rows:
        lines.append(f"\n_{len(df) - max_rows} more rows not shown_")
    return "\n".join(lines)


def md_image(png: bytes, alt: str) -> str:
    """Markdown showing ``png`` inline (a data URI), as the Dagster UI renders it."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
