"""Command line: see, promote and roll back classifier versions.

    python -m assets.model list                       stored versions, their last gate decision
    python -m assets.model history                    every change of the current model
    python -m assets.model promote VERSION --reason "..." [--by NAME]
    python -m assets.model rollback [--to VERSION] --reason "..." [--by NAME]

Works on the environment's warehouse and models container (``IMAGE_PLATFORM_ENV``), the same
ones the code location uses. Changes are recorded in ``model_promotions`` exactly like the
``promote_model_job``'s. Exit status 1 with a message on stderr for an unknown version, a
missing reason or nothing to roll back to; 2 for usage errors.
"""

import argparse
import getpass
import sys

import pandas as pd

from assets.classifier.registry import current_version, stored_versions
from assets.model.promotion import (
    PROMOTE,
    ROLLBACK,
    change_current,
    latest_evaluation,
    promotion_history,
    rollback_target,
)
from resources.definitions import build_resources
from resources.environment import get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assets.model", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="stored versions and their last gate decision")
    history = commands.add_parser("history", help="changes of the current model, newest first")
    history.add_argument("-n", type=int, default=20)
    for name in (PROMOTE, ROLLBACK):
        command = commands.add_parser(name, help=f"{name} the current model")
        if name == PROMOTE:
            command.add_argument("version")
        else:
            command.add_argument("--to", dest="version", default="")
        command.add_argument("--reason", required=True, help="why (recorded)")
        command.add_argument("--by", default="", help="who (recorded; default: your user name)")
    return parser


def _resources():
    resources = build_resources()
    return (
        resources["warehouse"].process_config_and_initialize(),
        resources["blob_store"].process_config_and_initialize(),
    )


def _list(warehouse, store, container: str) -> pd.DataFrame:
    current = current_version(store, container)
    rows = []
    for version in stored_versions(store, container):
        known = latest_evaluation(warehouse, version) or {}
        rows.append(
            {
                "model_version": version,
                "current": version == current,
                "decision": known.get("decision"),
                "accuracy": known.get("accuracy"),
                "evaluated_at": known.get("evaluated_at"),
                "reason": known.get("reason"),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    container = get_settings().models_container
    warehouse, store = _resources()
    try:
        if args.command == "list":
            sys.stdout.write(_list(warehouse, store, container).to_csv(index=False))
            return 0
        if args.command == "history":
            sys.stdout.write(promotion_history(warehouse, args.n).to_csv(index=False))
            return 0
        version = args.version or rollback_target(warehouse, store, container)
        event = change_current(
            warehouse,
            store,
            container,
            version,
            action=args.command,
            promoted_by=args.by or getpass.getuser(),
            reason=args.reason,
        )
    except (LookupError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(
        f"{event.action}: current model {event.previous_version or '(none)'} -> "
        f"{event.model_version} (recorded at {event.promoted_at.isoformat()})\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
