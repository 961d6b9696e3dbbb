"""Sensors that start runs: new blobs, early classification, dead runs."""
