"""The image classifier both the model and the inference stages use (pure: no Dagster).

``spec``: what an ONNX model expects and returns; ``preprocess``: the image preparation a spec
declares; ``registry``: model versions stored in a blob container by content address;
``classify``: ``Classifier``, a model version with its preprocessing, ready to score batches of
image bytes (``Classifier.from_store`` loads a stored version).
"""
