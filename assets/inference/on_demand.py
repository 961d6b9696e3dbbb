"""Classify chosen images on demand, with the model and the code path the nightly run uses.

Inputs name local files or folders, or blobs of the environment's store:

* ``path/to/file.jpg`` or ``path/to/folder`` (walked recursively, sorted) — command line only;
* ``blob://<container>/<name>`` — one blob; ``blob://<container>/<prefix>/`` — every blob under
  the prefix (a "folder");
* ``<container>/<name>`` or ``<container>/<prefix>/`` — the same without the scheme (job config);
* a URL of the store itself (``https://<account>.blob.core.windows.net/<container>/<name>``, or
  ``file://`` under the local store's root).

A name that matches nothing, a file above the size limit or bytes that do not decode give an
``UndecodableImageError`` with a reason code in that image's place; they never stop the others.
(No Dagster import: the command line and the ``classify_images`` job both use this.)
"""

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from assets.classifier.classify import Classifier, Prediction
from assets.decode import UndecodableImageError

DEFAULT_MAX_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Input:
    """One image to classify: what the user named it and how to read it."""

    name: str
    size: int | None
    read: Callable[[], bytes]


def _missing(name: str, why: str) -> Input:
    def read() -> bytes:
        raise UndecodableImageError("not_found", why)

    return Input(name, None, read)


def _blob_inputs(store, container: str, name: str) -> list[Input]:
    if not name or name.endswith("/"):
        found = [
            info
            for info in store.list_blobs(container, name)
            if not info.name.endswith("/") and not info.name.rsplit("/", 1)[-1].startswith(".")
        ]
        if not found:
            return [_missing(f"blob://{container}/{name}", "no blob under this prefix")]
        return [
            Input(f"blob://{container}/{i.name}", i.size, _blob_reader(store, container, i.name))
            for i in sorted(found, key=lambda i: i.name)
        ]
    info = store.get_info(container, name)
    if info is None:
        # A folder named without its trailing slash.
        if any(True for _ in store.list_blobs(container, name + "/")):
            return _blob_inputs(store, container, name + "/")
        return [_missing(f"blob://{container}/{name}", "no such blob")]
    return [Input(f"blob://{container}/{name}", info.size, _blob_reader(store, container, name))]


def _blob_reader(store, container: str, name: str) -> Callable[[], bytes]:
    return lambda: store.read_bytes(container, name)


def _file_inputs(path: Path, display: str) -> list[Input]:
    if path.is_dir():
        files: list[Path] = []
        for root, dirs, names in os.walk(path):
            dirs.sort()
            files.extend(Path(root) / n for n in names)
        return [Input(str(f), f.stat().st_size, f.read_bytes) for f in sorted(files)]
    if path.is_file():
        return [Input(display, path.stat().st_size, path.read_bytes)]
    return [_missing(display, "no such file or directory")]


def resolve_inputs(specs: Iterable[str], store, local_files: bool = True) -> list[Input]:
    """The images ``specs`` name, in order (see the module docstring for the forms)."""
    inputs: list[Input] = []
    for raw in specs:
        spec = raw.strip()
        if not spec:
            continue
        if spec.startswith("blob://"):
            container, _, name = spec[len("blob://") :].partition("/")
            inputs.extend(_blob_inputs(store, container, name))
            continue
        located = store.locate(spec) if "://" in spec else None
        if located is not None:
            inputs.extend(_blob_inputs(store, *located))
        elif "://" in spec:
            inputs.append(_missing(spec, "not a location of this environment's blob store"))
        elif local_files:
            inputs.extend(_file_inputs(Path(spec), spec))
        else:
            container, _, name = spec.partition("/")
            inputs.extend(_blob_inputs(store, container, name))
    return inputs


def read_input(item: Input, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes | UndecodableImageError:
    if item.size is not None and item.size > max_bytes:
        return UndecodableImageError(
            "too_large", f"{item.size} bytes exceeds the limit of {max_bytes} bytes; not read"
        )
    try:
        return item.read()
    except UndecodableImageError as exc:
        return exc
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        return UndecodableImageError("unreadable", f"{type(exc).__name__}: {exc}")


def classify_inputs(
    classifier: Classifier,
    inputs: Iterable[Input],
    batch_size: int = 64,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[tuple[str, Prediction | UndecodableImageError]]:
    """(name, Prediction or error) per input, in order; reading failures are errors in place."""
    failed: dict[int, UndecodableImageError] = {}

    def readable() -> Iterator[tuple[int, bytes]]:
        for index, item in enumerate(items):
            data = read_input(item, max_bytes)
            if isinstance(data, UndecodableImageError):
                failed[index] = data
            else:
                yield index, data

    items = list(inputs)
    results: dict[int, Prediction | UndecodableImageError] = {}
    for index, result in classifier.classify_bytes(readable(), batch_size):
        results[index] = result
    for index, item in enumerate(items):
        yield item.name, failed.get(index) or results[index]


def results_table(
    results: Iterable[tuple[str, Prediction | UndecodableImageError]],
    class_names: tuple[str, ...],
    model_version: str,
) -> pd.DataFrame:
    """One row per image: predicted label, its probability and every class's probability
    (columns ``p_<class>``), or the error's reason and detail."""
    rows = []
    for name, result in results:
        row: dict = {"image": name, "model_version": model_version}
        if isinstance(result, UndecodableImageError):
            row.update(error=result.reason, detail=result.detail)
        else:
            row.update(predicted_label=result.label, probability=result.probability)
            row.update({f"p_{c}": p for c, p in result.by_class().items()})
        rows.append(row)
    columns = [
        "image",
        "predicted_label",
        "probability",
        *(f"p_{c}" for c in class_names),
        "model_version",
        "error",
        "detail",
    ]
    return pd.DataFrame(rows).reindex(columns=columns)
