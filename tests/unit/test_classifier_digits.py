"""The classifier's quality target: scikit-learn's digits, rendered as PNG files, held out 20%."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from assets.classifier.classify import Classifier, Prediction
from assets.classifier.spec import ModelSpec
from assets.decode import UndecodableImageError
from assets.demo.digits import render_digits
from assets.model.evaluate import evaluate
from assets.model.train import load_images, train_classifier

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits_run():
    digits = render_digits(size=32)
    labels = [d.label for d in digits]
    train_idx, test_idx = train_test_split(
        np.arange(len(digits)), test_size=0.2, stratify=labels, random_state=0
    )
    train = [(digits[i].name, digits[i].data, digits[i].label) for i in train_idx]
    test = [(digits[i].name, digits[i].data, digits[i].label) for i in test_idx]
    model = train_classifier(train)
    classifier = Classifier.load(model.onnx_bytes, model.spec, intra_op_threads=2)
    results = list(classifier.classify_bytes(((k, data) for k, data, _ in test), batch_size=64))
    return model, classifier, test, results


def test_every_test_digit_is_classified_in_input_order(digits_run):
    _, _, test, results = digits_run
    assert [key for key, _ in results] == [key for key, _, _ in test]
    assert all(isinstance(result, Prediction) for _, result in results)


def test_the_onnx_model_reaches_98_percent_test_accuracy_on_the_digits(digits_run):
    _, _, test, results = digits_run
    predicted = [result.label for _, result in results]
    truth = [label for _, _, label in test]
    accuracy = float(np.mean(np.array(predicted) == np.array(truth)))
    assert len(truth) == 360
    assert accuracy >= 0.98, f"test accuracy {accuracy:.4f}"


def test_evaluation_of_the_onnx_outputs_agrees_with_the_predictions(digits_run):
    model, _, test, results = digits_run
    probabilities = np.stack([result.probabilities for _, result in results])
    evaluation = evaluate([label for _, _, label in test], probabilities, model.spec.class_names)
    assert evaluation.accuracy >= 0.98
    assert evaluation.per_class.support.sum() == 360
    assert (evaluation.per_class.average_precision > 0.95).all()
    assert int(np.trace(evaluation.confusion.to_numpy())) == round(evaluation.accuracy * 360)


def test_onnx_probabilities_match_the_sklearn_pipeline_and_labels_agree(digits_run):
    model, classifier, test, _ = digits_run
    loaded = load_images(test)
    onnx_labels, onnx_probabilities = classifier.session.run(None, {"image": loaded.images})
    sklearn_probabilities = model.sklearn_probabilities(loaded.images)
    assert onnx_probabilities.shape == (360, 10)
    assert np.abs(onnx_probabilities - sklearn_probabilities).max() < 1e-4
    sklearn_labels = model.pipeline.classes_[sklearn_probabilities.argmax(axis=1)]
    assert list(onnx_labels) == list(sklearn_labels)
    # The model's own label output is the most probable class of its probability output.
    names = np.array(model.spec.class_names)
    assert list(onnx_labels) == list(names[onnx_probabilities.argmax(axis=1)])


def test_the_probabilities_of_each_image_sum_to_one(digits_run):
    _, _, _, results = digits_run
    sums = np.array([result.probabilities.sum() for _, result in results])
    assert np.allclose(sums, 1.0, atol=1e-5)
    assert all(result.probability == result.probabilities.max() for _, result in results)


def test_the_exported_file_carries_its_preprocessing_contract(digits_run):
    model, _, _, _ = digits_run
    embedded = ModelSpec.from_onnx(model.onnx_bytes)
    assert embedded.version == model.spec.version
    assert embedded.to_dict() == {**model.spec.to_dict(), "training": {}}
    assert model.spec.training["train_images"] == 1437
    assert model.spec.class_names == tuple(str(d) for d in range(10))


def test_a_corrupt_file_among_the_digits_does_not_stop_training():
    digits = render_digits(size=32)[:60]
    items = [(d.name, d.data, d.label) for d in digits]
    items.insert(5, ("broken.png", digits[0].data[:40], "0"))
    model = train_classifier(items)
    assert [key for key, _ in model.skipped] == ["broken.png"]
    assert isinstance(model.skipped[0][1], UndecodableImageError)
    assert model.spec.training["train_images"] == 60
