"""The sensors of the code location, with the ones each environment turns on by default."""

import dagster as dg

from assets.automation.runs import dead_runs_sensor
from assets.automation.sensors import new_blobs_sensor
from resources.environment import Environment, get_environment

# The dead-run check compares process ids, which only means something where every process of the
# instance runs on one machine: the embedded default and CI. In production, run monitoring and
# the run launcher (one pod per run) find lost runs.
_local = get_environment() != Environment.PROD
defs = dg.Definitions(sensors=[new_blobs_sensor, *([dead_runs_sensor] if _local else [])])
