"""Nightly and on-demand classification of incoming images with the current model."""
