"""Command line: confirm or correct one image's label.

    python -m assets.reviews confirm IMAGE LABEL [--by NAME] [--note TEXT] [--allow-new-label]

IMAGE is an image_id or a blob path (``incoming/2026/11/26/photo.jpg``, as the review sheet of
``nightly_classifications`` prints it). Recorded in ``label_reviews`` of the environment's
warehouse (``IMAGE_PLATFORM_ENV``); the next split and publication take it. Exit status 1, with
the reason on stderr and nothing recorded, for an unknown image or a label the model and the
catalog do not know.
"""

import argparse
import getpass
import sys

from assets.reviews.review import review_one
from resources.definitions import build_resources
from resources.environment import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assets.reviews", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    confirm = commands.add_parser("confirm", help="confirm or correct one image's label")
    confirm.add_argument("image")
    confirm.add_argument("label")
    confirm.add_argument("--by", default="", help="who (default: your user name)")
    confirm.add_argument("--note", default="")
    confirm.add_argument("--allow-new-label", action="store_true")
    args = parser.parse_args(argv)
    resources = build_resources()
    warehouse = resources["warehouse"].process_config_and_initialize()
    store = resources["blob_store"].process_config_and_initialize()
    try:
        row = review_one(
            warehouse,
            store,
            get_settings().models_container,
            args.image,
            args.label,
            args.by or getpass.getuser(),
            args.note,
            "python -m assets.reviews",
            args.allow_new_label,
        )
    except ValueError as exc:
        sys.stderr.write(f"error: nothing recorded: {exc}\n")
        return 1
    record = row.iloc[0]
    sys.stdout.write(f"{record.image_id}: {record.decision} as {record.label}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
