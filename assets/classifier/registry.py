"""Model versions in blob storage: content-addressed files and a pointer to the current one.

Layout in the models container (the refund app kept its model in a blob container too)::

    image-classifier/<version>/model.onnx      the ONNX bytes (version = SHA-256 prefix of them)
    image-classifier/<version>/spec.json       preprocessing contract and class names
    image-classifier/<version>/evaluation.json metrics on the Test side
    image-classifier/<version>/confusion_matrix.png
    image-classifier/current.json              {"version": ...}: what nightly runs use

Writing a version never overwrites another one; switching models is one small pointer write
(``set_current``), done only by the promotion gate or a recorded manual promotion
(``assets.model.promotion``).
"""

import json
from dataclasses import dataclass

from assets.classifier.spec import ModelSpec, model_version

MODEL_NAME = "image-classifier"


@dataclass(frozen=True)
class StoredModel:
    """A stored classifier version: its ONNX bytes and the spec they were exported with."""

    onnx_bytes: bytes
    spec: ModelSpec

    @property
    def version(self) -> str:
        return self.spec.version


def version_path(version: str, filename: str, name: str = MODEL_NAME) -> str:
    return f"{name}/{version}/{filename}"


def save_version(
    store,
    container: str,
    model: StoredModel,
    extras: dict[str, tuple[bytes, str]] | None = None,
    name: str = MODEL_NAME,
    make_current: bool = True,
) -> dict[str, str]:
    """Store a model version (idempotent: same bytes, same paths) and point ``current`` at it."""
    if model_version(model.onnx_bytes) != model.version:
        raise ValueError("spec.version is not the content address of the ONNX bytes")
    store.ensure_container(container)
    files = {
        "model.onnx": (model.onnx_bytes, "application/octet-stream"),
        "spec.json": (model.spec.to_json().encode(), "application/json"),
        **(extras or {}),
    }
    paths = {}
    for filename, (data, content_type) in files.items():
        path = version_path(model.version, filename, name)
        store.write_bytes(container, path, data, content_type=content_type)
        paths[filename] = path
    if make_current:
        set_current(store, container, model.version, model.spec.source, name)
    return paths


def set_current(
    store, container: str, version: str, source: str = "", name: str = MODEL_NAME
) -> None:
    """Point ``current.json`` at ``version`` (one small blob write)."""
    pointer = json.dumps({"version": version, "source": source}).encode()
    store.write_bytes(container, f"{name}/current.json", pointer, "application/json")


def clear_current(store, container: str, name: str = MODEL_NAME) -> None:
    store.delete(container, f"{name}/current.json")


def stored_versions(store, container: str, name: str = MODEL_NAME) -> list[str]:
    """Every version with a stored model file, sorted."""
    suffix = "/model.onnx"
    return sorted(
        info.name[len(name) + 1 : -len(suffix)]
        for info in store.list_blobs(container, f"{name}/")
        if info.name.endswith(suffix)
    )


def require_version(store, container: str, version: str, name: str = MODEL_NAME) -> str:
    """``version`` if a model file is stored under it; otherwise a LookupError naming the known
    versions."""
    version = version.strip()
    if version and store.get_info(container, version_path(version, "model.onnx", name)):
        return version
    known = stored_versions(store, container, name)
    listed = ", ".join(known[-10:]) if known else "none"
    raise LookupError(
        f"no model version {version!r} in {container}/{name} (stored versions: {listed})"
    )


def current_version(store, container: str, name: str = MODEL_NAME) -> str | None:
    if store.get_info(container, f"{name}/current.json") is None:
        return None
    return json.loads(store.read_bytes(container, f"{name}/current.json"))["version"]


def load_version(
    store, container: str, version: str | None = None, name: str = MODEL_NAME
) -> StoredModel:
    """Load a version (default: the current one) and verify its bytes against its address."""
    version = version or current_version(store, container, name)
    if not version:
        raise LookupError(f"no model in {container}/{name}: materialise image_classifier first")
    require_version(store, container, version, name)
    onnx_bytes = store.read_bytes(container, version_path(version, "model.onnx", name))
    spec = ModelSpec.from_json(
        store.read_bytes(container, version_path(version, "spec.json", name)).decode()
    )
    if model_version(onnx_bytes) != version or spec.version != version:
        raise ValueError(f"model {version} in {container}/{name} does not match its address")
    return StoredModel(onnx_bytes, spec)
