"""On a small photo collection the classifier recognises altered copies of its training photos."""

import numpy as np
import pytest

from assets.classifier.classify import Classifier, Prediction
from assets.decode import UndecodableImageError
from assets.demo.collection import build_demo_collection
from assets.model.train import train_classifier

pytestmark = pytest.mark.slow

ALTERED = ("_small", "_q35", "_bright", "_exif_rotated", "_cropped")


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    build_demo_collection(root)
    items = [
        (str(path.relative_to(root)), path.read_bytes(), path.parent.name)
        for path in sorted(root.glob("*/*"))
    ]
    train = [item for item in items if not any(tag in item[0] for tag in ALTERED)]
    test = [item for item in items if any(tag in item[0] for tag in ALTERED)]
    model = train_classifier(train)
    classifier = Classifier.load(model.onnx_bytes, model.spec, decode_threads=2)
    results = list(classifier.classify_bytes((key, data) for key, data, _ in test))
    return model, test, results


def test_broken_files_of_the_collection_are_skipped_with_a_reason(photo_run):
    model, _, _ = photo_run
    reasons = {key: error.reason for key, error in model.skipped}
    assert reasons == {
        "objects/rocket_truncated.jpg": "corrupt_data",
        "objects/download_error.jpg": "unidentified_format",
        "microscopy/multipage_rgb.tif": "unidentified_format",
    }
    assert all(isinstance(error, UndecodableImageError) for _, error in model.skipped)


def test_resized_recompressed_brightened_cropped_and_rotated_copies_get_their_photos_label(
    photo_run,
):
    _, test, results = photo_run
    truth = {key: label for key, _, label in test}
    assert all(isinstance(result, Prediction) for _, result in results)
    correct = [result.label == truth[key] for key, result in results]
    assert len(correct) >= 50
    assert np.mean(correct) >= 0.95
    assert np.median([result.probability for _, result in results]) > 0.5
