"""Batch inference: classify image bytes with an ONNX model and its ModelSpec."""
