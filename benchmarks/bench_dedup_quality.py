"""Dedup quality on the project's labelled near-duplicate benchmark, for several rules at once.

    .venv/bin/python benchmarks/bench_dedup_quality.py [--mode exact|fast] [--rebuild]

The benchmark (``assets/demo/benchmark.py``) is built once under ``benchmarks/.dedup-benchmark/``
from the demo's photographs: every transform family at several strengths, plus negatives that
must stay apart (tiles of one photo, mirror images, 90° rotations, blank / all-border / 1-px-wide
/ transparent files). Every file is hashed once with the platform's engine; then each rule is
scored on the same hashes (``assets/splits/quality.py``): pair precision and recall, recall per
transform family, and leakage after the platform's split. The rules:

* the lab's: equal DHashHex3;
* the previous defaults: equal DHashHex3, or size-8 hashes within 8 bits;
* the shipped defaults, read from ``dbt/dbt_project.yml`` (what duplicate_groups does);
* candidates measured on the way (``--candidates``), to document what each link adds.

Prints Markdown tables (for benchmarks/README.md) and the missed pairs of the shipped rule.
"""

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from assets.dedup.project import dbt_vars
from assets.demo.benchmark import FAMILIES, MANIFEST, ensure_benchmark
from assets.metadata import md_table
from assets.splits import quality

ROOT = Path(__file__).resolve().parent
BENCHMARK = ROOT / ".dedup-benchmark"


def candidates(shipped: quality.Rule) -> list[quality.Rule]:
    """Rules measured while choosing the defaults (each differs from the shipped one by a link)."""
    return [
        replace(shipped, name="shipped + equal DHashHex3", same_size=3),
        replace(shipped, name="shipped without the trimmed link", trim_threshold=None),
        replace(shipped, name="shipped without the centre link", centre_threshold=None),
        replace(shipped, name="shipped without the edge-cut link", cut_threshold=None),
        replace(
            shipped,
            name="shipped without the centre and edge-cut links",
            centre_threshold=None,
            cut_threshold=None,
        ),
        replace(shipped, name="shipped, centre link at 6 bits", centre_threshold=6),
        replace(shipped, name="shipped, centre link at 10 bits", centre_threshold=10),
        replace(shipped, name="shipped, edge-cut link at 4 bits", cut_threshold=4),
        replace(shipped, name="shipped, edge-cut link at 8 bits", cut_threshold=8),
        replace(
            shipped, name="shipped without the multi-size link", confirm_size=None, fine_size=None
        ),
        # the defaults before the multi-size link's size-7 rule
        replace(shipped, name="shipped without the size-7 rule", fine_size=None),
        replace(shipped, name="shipped, trimmed link at 8 bits", trim_threshold=8),
        replace(shipped, name="shipped, multi-size: size 5 <= 2", confirm_distance=2),
        replace(shipped, name="shipped, multi-size: size 8 <= 24", loose_threshold=24),
        replace(shipped, name="shipped, multi-size: size 7 <= 5", fine_distance=5),
        replace(shipped, name="shipped, multi-size: size 7 <= 6", fine_distance=6),
        # wider size-7 rules: more recall, but their exact searches do not scale (README)
        replace(shipped, name="shipped, multi-size: size 7 <= 8", fine_distance=8),
        replace(shipped, name="shipped + size 7 <= 11", other_size=7, other_threshold=11),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["exact", "fast"], default="exact")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the benchmark files")
    parser.add_argument("--candidates", action="store_true", help="also score candidate rules")
    args = parser.parse_args(argv)

    if args.rebuild and BENCHMARK.exists():
        (BENCHMARK / "VERSION").unlink(missing_ok=True)
    root = ensure_benchmark(BENCHMARK)
    manifest = pd.read_csv(root / MANIFEST)
    started = time.monotonic()
    labelled = quality.hash_labelled(root, manifest, args.mode, args.workers)
    seconds = time.monotonic() - started

    shipped = quality.rule_from_vars(dbt_vars())
    rules = [quality.LAB_RULE, quality.PREVIOUS_RULE, shipped]
    if args.candidates:
        rules += candidates(shipped)
    scores = [quality.evaluate(labelled, rule) for rule in rules]

    duplicates = manifest[manifest.family.isin(FAMILIES)]
    print(
        f"Benchmark: {len(manifest)} files ({len(duplicates)} duplicates of "
        f"{manifest.source.replace('', pd.NA).nunique()} photographs in "
        f"{len(FAMILIES)} families, the rest negatives), hashed in {args.mode} mode "
        f"in {seconds:.1f} s; load average {os.getloadavg()[0]:.2f}.\n"
    )
    print(md_table(pd.DataFrame([quality.summary_row(q) for q in scores]), max_rows=50))
    print()
    print(md_table(quality.family_table(scores), max_rows=50))
    print()
    content = labelled.content.fillna("undecodable").value_counts().rename_axis("content")
    print(md_table(content.reset_index(name="images"), max_rows=50))
    print()
    final = scores[2]
    print(f"Missed by the shipped defaults ({len(final.missed)}):\n")
    print(md_table(final.missed, max_rows=100))
    print(f"\nFalse links of the shipped defaults ({len(final.false_links)}):\n")
    print(md_table(final.false_links, max_rows=100))
    return 0


if __name__ == "__main__":
    sys.exit(main())
