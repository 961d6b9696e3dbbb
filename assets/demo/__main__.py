"""``python -m assets.demo build|run|drop``: build the demo collection, materialise all on it, or
drop an image into the incoming container for the new-blobs sensor."""

import argparse
import sys
from pathlib import Path

from assets.demo.collection import build_demo_collection
from resources.environment import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assets.demo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="write the demo image collection")
    build.add_argument("--out", type=Path, default=None, help="default: IMAGE_PLATFORM_SOURCE")
    sub.add_parser("run", help="build the collection if missing, then materialise every asset")
    drop = sub.add_parser("drop", help="upload image files into IMAGE_PLATFORM_INCOMING")
    drop.add_argument("files", type=Path, nargs="+", help="image files to drop")
    args = parser.parse_args(argv)

    settings = get_settings()
    if args.command == "drop":
        from assets.demo.drop import drop_image
        from resources.definitions import build_blob_store

        store = build_blob_store(settings)
        for path in args.files:
            info = drop_image(settings, store, path)
            print(f"dropped {path} as {info.container}/{info.name}")
        return 0
    out = args.out if args.command == "build" and args.out else Path(settings.source.path or "")
    if settings.source.kind != "folder" and not (args.command == "build" and args.out):
        print("IMAGE_PLATFORM_SOURCE is a blob source; pass --out for the demo folder")
        return 2
    if args.command == "build" or not out.is_dir():
        counts = build_demo_collection(out)
        print(f"demo collection: {sum(counts.values())} files in {len(counts)} labels at {out}")
    if args.command == "run":
        from assets.demo.run import materialize_everything

        return materialize_everything(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
