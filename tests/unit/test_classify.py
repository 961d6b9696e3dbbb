"""Batch inference: bad files in a batch, input order, threads, and user-provided ONNX models."""

import io

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from assets.classifier.classify import Classifier, Prediction
from assets.classifier.spec import ModelSpec
from assets.decode import UndecodableImageError
from assets.demo.digits import render_digits
from assets.model.train import train_classifier


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def small_model():
    digits = [d for d in render_digits(size=32) if d.label in ("0", "1", "7")][:90]
    return train_classifier([(d.name, d.data, d.label) for d in digits])


@pytest.fixture(scope="module")
def probe_images():
    digits = [d for d in render_digits(size=32) if d.label in ("0", "1", "7")][90:110]
    return [(d.name, d.data) for d in digits]


@pytest.mark.parametrize("decode_threads", [1, 2])
@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_a_corrupt_or_truncated_image_comes_back_as_an_error_and_the_rest_are_classified_in_order(
    small_model, probe_images, decode_threads, batch_size
):
    good = probe_images[:6]
    items = [
        good[0],
        ("truncated.png", good[1][1][: len(good[1][1]) // 2]),
        good[2],
        ("not_an_image.jpg", b"<html>403 Forbidden</html>"),
        good[3],
        ("empty.png", b""),
        good[4],
        good[5],
    ]
    classifier = Classifier.load(
        small_model.onnx_bytes, small_model.spec, decode_threads=decode_threads
    )
    results = list(classifier.classify_bytes(items, batch_size=batch_size))
    assert [key for key, _ in results] == [key for key, _ in items]
    errors = {key: r.reason for key, r in results if isinstance(r, UndecodableImageError)}
    assert errors == {
        "truncated.png": "corrupt_data",
        "not_an_image.jpg": "unidentified_format",
        "empty.png": "empty_file",
    }
    assert sum(isinstance(r, Prediction) for _, r in results) == 5


def test_results_do_not_depend_on_batch_size_or_thread_counts(small_model, probe_images):
    reference = Classifier.load(small_model.onnx_bytes, small_model.spec)
    expected = [r.probabilities for _, r in reference.classify_bytes(probe_images, batch_size=1)]
    threaded = Classifier.load(
        small_model.onnx_bytes, small_model.spec, intra_op_threads=2, decode_threads=2
    )
    actual = [r.probabilities for _, r in threaded.classify_bytes(probe_images, batch_size=7)]
    assert np.allclose(np.stack(expected), np.stack(actual), atol=1e-6)


def test_the_predicted_label_is_the_most_probable_class(small_model, probe_images):
    classifier = Classifier.load(small_model.onnx_bytes)
    for _, prediction in classifier.classify_bytes(probe_images):
        by_class = prediction.by_class()
        assert list(by_class) == ["0", "1", "7"]
        assert prediction.label == max(by_class, key=by_class.get)
        assert prediction.probability == pytest.approx(by_class[prediction.label])


def test_a_classifier_refuses_a_spec_whose_version_is_not_the_models_content_address(
    small_model,
):
    from dataclasses import replace

    wrong = replace(small_model.spec, version="0123456789abcdef")
    with pytest.raises(ValueError, match="content address"):
        Classifier.load(small_model.onnx_bytes, wrong)


def _channel_mean_model(layout: str, size: int = 4) -> bytes:
    """A tiny user model: logits = the mean of each colour channel, classes red/green/blue."""
    if layout == "NCHW":
        shape, axes = [None, 3, size, size], [2, 3]
    else:
        shape, axes = [None, size, size, 3], [1, 2]
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["pixels"], ["logits"], axes=axes, keepdims=0)],
        "channel_means",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_a_user_provided_onnx_model_runs_with_its_declared_layout_and_normalisation(layout):
    onnx_bytes = _channel_mean_model(layout)
    spec = ModelSpec.for_user_model(
        onnx_bytes,
        input_size=(4, 4),
        class_names=["red", "green", "blue"],
        layout=layout,
        scale=1 / 255,
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.5),
        output_kind="logits",
    )
    assert spec.input_name == "pixels" and spec.source == "user"
    classifier = Classifier.load(onnx_bytes, spec)
    colours = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
    items = [(name, _png(Image.new("RGB", (40, 30), rgb))) for name, rgb in colours.items()]
    results = dict(classifier.classify_bytes(items))
    assert {name: r.label for name, r in results.items()} == {n: n for n in colours}
    # Red normalises to (1 - 0.5) / 0.25 = 2 for R, (0 - 0.5) / 0.25 = -2 for G, -1 for B.
    logits = np.array([2.0, -2.0, -1.0])
    softmax = np.exp(logits) / np.exp(logits).sum()
    assert np.allclose(results["red"].probabilities, softmax, atol=1e-6)


def test_a_user_provided_scikit_learn_model_with_zipmap_output_runs_on_greyscale_flat_input():
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    # 2x2 greyscale, flattened: "dark" images have low values, "light" ones high.
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0, 0.3, (20, 4)), rng.uniform(0.7, 1, (20, 4))])
    y = np.array(["dark"] * 20 + ["light"] * 20)
    onnx_model = to_onnx(LogisticRegression().fit(x, y), x[:1].astype(np.float32))
    onnx_bytes = onnx_model.SerializeToString()
    spec = ModelSpec.for_user_model(
        onnx_bytes,
        input_size=(2, 2),
        class_names=["dark", "light"],
        layout="flat",
        color_mode="L",
        probabilities_output="output_probability",
    )
    classifier = Classifier.load(onnx_bytes, spec)
    items = [
        ("black", _png(Image.new("L", (9, 9), 10))),
        ("white", _png(Image.new("L", (9, 9), 250))),
    ]
    labels = {key: r.label for key, r in classifier.classify_bytes(items)}
    assert labels == {"black": "dark", "white": "light"}


def test_a_spec_that_contradicts_the_models_input_shape_is_refused():
    onnx_bytes = _channel_mean_model("NCHW", size=4)
    spec = ModelSpec.for_user_model(
        onnx_bytes, input_size=(8, 8), class_names=["red", "green", "blue"], layout="NCHW"
    )
    with pytest.raises(ValueError, match="declares"):
        Classifier.load(onnx_bytes, spec)


def test_a_spec_with_the_wrong_number_of_classes_is_refused():
    onnx_bytes = _channel_mean_model("NHWC")
    spec = ModelSpec.for_user_model(
        onnx_bytes, input_size=(4, 4), class_names=["red", "green"], layout="NHWC"
    )
    with pytest.raises(ValueError, match="2 classes"):
        Classifier.load(onnx_bytes, spec)
