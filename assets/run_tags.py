"""Job names and run tags shared by the sensors (pure constants).

``new_blobs_sensor`` (assets/automation) tags every ``curation_job`` run it requests with its
batch, trigger and arrival days; ``early_classification_sensor`` (assets/inference) reads those
tags to know which evenings to classify early. Both import them from here, below both.
"""

CURATION_JOB = "curation_job"
NIGHTLY_JOB = "nightly_classification_job"
BATCH_TAG = "image-platform/incoming-batch"
TRIGGER_TAG = "image-platform/trigger"
ARRIVAL_DAYS_TAG = "image-platform/arrival-days"
BATCH_SIZE_TAG = "image-platform/batch-blobs"
ATTEMPT_TAG = "image-platform/attempt"
# How many new blobs the tick left out by the listing policy (hidden files, system files).
SKIPPED_TAG = "image-platform/skipped-by-policy"
