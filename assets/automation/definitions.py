import dagster as dg

from assets.automation.sensors import early_classification_sensor, new_blobs_sensor

defs = dg.Definitions(sensors=[new_blobs_sensor, early_classification_sensor])
