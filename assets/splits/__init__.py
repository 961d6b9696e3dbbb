"""The train/test split and the dedup quality measured on labelled pairs."""
