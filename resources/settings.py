"""The platform's non-secret settings as a Dagster resource.

Built once, in the code location's definitions, from the environment variables
(``resources.environment.get_settings``); assets, ops, sensors and schedules receive it as a
parameter instead of reading the environment themselves, so a test or a run hands them any
settings it likes and the UI shows the values a run used.
"""

from pathlib import Path

import dagster as dg
from pydantic import Field

from resources.environment import Environment, Settings, SourceSpec, parse_source


class PlatformSettings(dg.ConfigurableResource):
    """Where images come from and go, the nightly timezone and the incoming sensor's tuning."""

    env: str = Field(default=Environment.LOCAL.value, description="local, ci or prod.")
    home: str = Field(description="The data folder: DuckDB file, local blob store, Dagster home.")
    source: str = Field(
        description="Where raw images come from: a folder, or blob://<container>/<prefix>."
    )
    incoming: str = Field(
        default="blob://incoming/",
        description="Where new images arrive for nightly classification (blob://...).",
    )
    publish_container: str = Field(default="images", description="Published train/test blobs.")
    publish_prefix: str = Field(default="", description="Prefix of the published blobs.")
    models_container: str = Field(default="models", description="Classifier model versions.")
    predictions_container: str = Field(
        default="predictions", description="Nightly prediction files."
    )
    timezone: str = Field(default="UTC", description="Timezone of the nightly partitions.")
    incoming_batch_size: int = Field(default=500, description="Most blobs per incoming batch.")
    incoming_lookback_seconds: float = Field(
        default=120.0, description="How far back each tick lists again (late listings)."
    )
    incoming_date_folders: str = Field(
        default="", description="Date-folder layout of the incoming prefix (empty: none)."
    )
    incoming_max_attempts: int = Field(default=6, description="Runs per batch before giving up.")
    incoming_retry_delay_seconds: float = Field(
        default=60.0, description="Wait before retrying a failed incoming batch."
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> "PlatformSettings":
        """The resource holding ``settings`` (as read from the environment)."""
        return cls(
            env=settings.env.value,
            home=str(settings.home),
            source=_spec_text(settings.source),
            incoming=_spec_text(settings.incoming),
            publish_container=settings.publish_container,
            publish_prefix=settings.publish_prefix,
            models_container=settings.models_container,
            predictions_container=settings.predictions_container,
            timezone=settings.timezone,
            incoming_batch_size=settings.incoming_batch_size,
            incoming_lookback_seconds=settings.incoming_lookback_seconds,
            incoming_date_folders=settings.incoming_date_folders,
            incoming_max_attempts=settings.incoming_max_attempts,
            incoming_retry_delay_seconds=settings.incoming_retry_delay_seconds,
        )

    @property
    def source_spec(self) -> SourceSpec:
        return parse_source(self.source)

    @property
    def incoming_spec(self) -> SourceSpec:
        return parse_source(self.incoming)

    @property
    def home_path(self) -> Path:
        return Path(self.home)


def _spec_text(spec: SourceSpec) -> str:
    if spec.kind == "folder":
        return spec.path
    return f"blob://{spec.container}/{spec.prefix}"
