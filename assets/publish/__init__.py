"""The publishing stage: the kept images of each side as blobs, with lists."""
