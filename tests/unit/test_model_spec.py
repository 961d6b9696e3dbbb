"""ModelSpec: content-addressed versions, JSON round trips and refusal of impossible contracts."""

import hashlib

import pytest

from assets.classifier.spec import ModelSpec, model_version
from assets.demo.digits import render_digits
from assets.model.train import TrainConfig, train_classifier


@pytest.fixture(scope="module")
def items():
    digits = [d for d in render_digits(size=32) if d.label in ("3", "8")][:40]
    return [(d.name, d.data, d.label) for d in digits]


def test_the_version_is_the_start_of_the_sha256_of_the_onnx_bytes():
    data = b"not really a model, but bytes all the same"
    assert model_version(data) == hashlib.sha256(data).hexdigest()[:16]
    assert model_version(data) == model_version(bytes(data))
    assert model_version(data) != model_version(data + b"\x00")


def test_retraining_on_the_same_images_gives_the_same_bytes_and_version(items):
    first = train_classifier(items)
    second = train_classifier(items)
    assert first.onnx_bytes == second.onnx_bytes
    assert first.spec.version == second.spec.version == model_version(first.onnx_bytes)


def test_a_different_model_gets_a_different_version(items):
    first = train_classifier(items)
    other = train_classifier(items, TrainConfig(c=1.0))
    assert first.onnx_bytes != other.onnx_bytes
    assert first.spec.version != other.spec.version


def test_a_spec_survives_a_json_round_trip(items):
    spec = train_classifier(items).spec
    assert ModelSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"layout": "CHWN"}, "layout"),
        ({"color_mode": "CMYK"}, "color_mode"),
        ({"mean": (0.1, 0.2)}, "mean"),
        ({"std": (0.0,)}, "std"),
        ({"class_names": ("only",)}, "class_names"),
        ({"class_names": ("a", "a")}, "class_names"),
        ({"input_size": (0, 32)}, "input_size"),
        ({"resample": "sinc"}, "resample"),
    ],
)
def test_a_spec_that_cannot_be_carried_out_is_refused(change, message):
    fields = {
        "input_name": "image",
        "input_size": (32, 32),
        "class_names": ("a", "b"),
        "version": "0" * 16,
    }
    with pytest.raises(ValueError, match=message):
        ModelSpec(**{**fields, **change})
