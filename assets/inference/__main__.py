"""Command line: every class's probability for images, from a stored classifier.

    python -m assets.inference [--model-version V] [--format csv|json] FILE_OR_URI...

FILE_OR_URI: a file, a folder (walked recursively, sorted), ``blob://<container>/<name>``, a blob
"folder" ``blob://<container>/<prefix>/`` or a URL of the environment's blob store. The model is
the current one of the environment's models container (``IMAGE_PLATFORM_ENV``) unless
``--model-version`` names another; decode and preprocessing are the nightly run's.

CSV: one row per image — ``image, predicted_label, probability, p_<class>..., model_version``;
JSON: one object per image with ``probabilities`` as {class: probability}. Probabilities of an
image sum to 1. Images that cannot be read or decoded are reported on stderr with a reason code
(and in JSON as ``error``). Exit status: 0 when at least one image was classified, 1 when none
was or the model cannot be loaded, 2 for usage errors.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from assets.classifier.classify import Classifier
from assets.decode import UndecodableImageError
from assets.inference.on_demand import classify_inputs, resolve_inputs
from resources.definitions import build_resources
from resources.environment import get_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m assets.inference",
        description="Print every class's probability for each image (CSV or JSON).",
    )
    parser.add_argument("--model-version", default="", help="default: the current model")
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("paths", nargs="+", metavar="FILE_OR_URI")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")

    store = build_resources()["blob_store"].process_config_and_initialize()
    try:
        classifier = Classifier.from_store(
            store, get_settings().models_container, args.model_version
        )
    except (LookupError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    names = classifier.spec.class_names
    inputs = resolve_inputs(args.paths, store, local_files=True)
    classified = 0
    records: list[dict[str, Any]] = []
    if args.format == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(
            ["image", "predicted_label", "probability", *(f"p_{c}" for c in names), "model_version"]
        )
    for name, result in classify_inputs(classifier, inputs, args.batch_size):
        if isinstance(result, UndecodableImageError):
            sys.stderr.write(f"{name}: {result.reason}: {result.detail}\n")
            if args.format == "json":
                records.append({"image": name, "error": result.reason, "detail": result.detail})
            continue
        classified += 1
        probabilities = result.by_class()
        if args.format == "csv":
            writer.writerow(
                [
                    name,
                    result.label,
                    f"{result.probability:.6f}",
                    *(f"{probabilities[c]:.6f}" for c in names),
                    classifier.version,
                ]
            )
        else:
            records.append(
                {
                    "image": name,
                    "predicted_label": result.label,
                    "probability": result.probability,
                    "probabilities": probabilities,
                    "model_version": classifier.version,
                }
            )
    if args.format == "json":
        json.dump(records, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0 if classified else 1


if __name__ == "__main__":
    sys.exit(main())
