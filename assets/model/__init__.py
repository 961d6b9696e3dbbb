"""The model stage: training, evaluation and promotion of the image classifier."""
