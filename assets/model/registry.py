"""Model versions in blob storage: content-addressed files and a pointer to the current one.

Layout in the models container (the refund app kept its model in a blob container too)::

    image-classifier/<version>/model.onnx      the ONNX bytes (version = SHA-256 prefix of them)
    image-classifier/<version>/spec.json       preprocessing contract and class names
    image-classifier/<version>/evaluation.json metrics on the Test side
    image-classifier/<version>/confusion_matrix.png
    image-classifier/current.json              {"version": ...}: what nightly runs use

Writing a version never overwrites another one; switching models is one small pointer write.
"""

import json
from dataclasses import dataclass

from assets.model.spec import ModelSpec, model_version

MODEL_NAME = "image-classifier"


@dataclass(frozen=True)
class StoredModel:
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
        pointer = json.dumps({"version": model.version, "source": model.spec.source}).encode()
        store.write_bytes(container, f"{name}/current.json", pointer, "application/json")
    return paths


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
    onnx_bytes = store.read_bytes(container, version_path(version, "model.onnx", name))
    spec = ModelSpec.from_json(
        store.read_bytes(container, version_path(version, "spec.json", name)).decode()
    )
    if model_version(onnx_bytes) != version or spec.version != version:
        raise ValueError(f"model {version} in {container}/{name} does not match its address")
    return StoredModel(onnx_bytes, spec)
