"""Image classifier: model spec, preprocessing, fixed features, training and evaluation."""
