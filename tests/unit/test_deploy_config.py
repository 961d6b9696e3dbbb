"""The production deployments agree on how dead runs are handled: platform/dagster.yaml (a VM or
container instance) and the Helm values (Kubernetes) both free the pool slots of ended runs and
retry failed runs the same way, and the local instance frees slots too.

The Helm chart does not validate ``dagsterDaemon.runMonitoring`` (a free-form map) and renders
only some keys of it and of ``runRetries``: a misspelt or unrendered key would vanish silently.
The chart's rendering of those sections (``templates/configmap-instance.yaml`` of the `dagster`
chart, 1.13) is mirrored here, and the rendered instance is loaded by Dagster itself."""

from pathlib import Path

import dagster as dg
import pytest
import yaml

PLATFORM = Path(__file__).resolve().parents[2] / "platform"
HELM = PLATFORM / "helm"

# runMonitoring keys the chart writes into run_monitoring; any other key is dropped.
CHART_RUN_MONITORING = {
    "enabled": "enabled",
    "startTimeoutSeconds": "start_timeout_seconds",
    "cancelTimeoutSeconds": "cancel_timeout_seconds",
    "maxResumeRunAttempts": "max_resume_run_attempts",
    "pollIntervalSeconds": "poll_interval_seconds",
    "freeSlotsAfterRunEndSeconds": "free_slots_after_run_end_seconds",
}
# runRetries keys the chart writes into run_retries.
CHART_RUN_RETRIES = {"enabled": "enabled", "maxRetries": "max_retries"}
# Where the two deployments differ on purpose: the K8sRunLauncher can resume a lost run.
LAUNCHER_RESUME = "max_resume_run_attempts"
LAUNCHER_SPECIFIC = {LAUNCHER_RESUME}


def _merge(base: dict, overlay: dict) -> dict:
    """Helm's merge of values files: maps merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _values(env: str) -> dict:
    base = yaml.safe_load((HELM / "values-base.yaml").read_text())
    return _merge(base, yaml.safe_load((HELM / f"values-{env}.yaml").read_text()) or {})


def render_run_sections(values: dict) -> tuple[dict, list[str]]:
    """The run_monitoring and run_retries the chart renders, plus additionalInstanceConfig; and
    the keys it would drop."""
    daemon = values["dagsterDaemon"]
    out: dict = {}
    dropped: list[str] = []
    monitoring = daemon.get("runMonitoring") or {}
    retries = daemon.get("runRetries") or {}
    if daemon.get("enabled") and monitoring.get("enabled"):
        out["run_monitoring"] = {
            CHART_RUN_MONITORING[k]: v for k, v in monitoring.items() if k in CHART_RUN_MONITORING
        }
        dropped += [f"runMonitoring.{k}" for k in monitoring if k not in CHART_RUN_MONITORING]
    if daemon.get("enabled") and retries.get("enabled"):
        out["run_retries"] = {
            CHART_RUN_RETRIES[k]: v for k, v in retries.items() if k in CHART_RUN_RETRIES
        }
        dropped += [f"runRetries.{k}" for k in retries if k not in CHART_RUN_RETRIES]
    extra = values.get("additionalInstanceConfig") or {}
    clash = sorted(set(extra) & set(out))
    assert not clash, f"rendered twice (a duplicate YAML key): {clash}"
    return out | extra, dropped


def _production() -> dict:
    return yaml.safe_load((PLATFORM / "dagster.yaml").read_text())


def _load(tmp_path: Path, sections: dict) -> dg.DagsterInstance:
    """A real Dagster instance from ``sections`` (its own schema validates every key)."""
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(sections))
    return dg.DagsterInstance.from_config(str(tmp_path))


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_helm_values_free_dead_runs_slots_and_retry_runs_like_the_production_instance(
    env, tmp_path
):
    rendered, dropped = render_run_sections(_values(env))
    assert dropped == [], f"keys the chart does not render: {dropped}"

    production = _production()
    expected_monitoring = {
        k: v for k, v in production["run_monitoring"].items() if k not in LAUNCHER_SPECIFIC
    }
    got_monitoring = {
        k: v for k, v in rendered["run_monitoring"].items() if k not in LAUNCHER_SPECIFIC
    }
    assert got_monitoring == expected_monitoring
    assert rendered["run_retries"] == production["run_retries"]

    # Loaded with the default launcher (dagster-k8s is not installed here), which refuses resume
    # attempts; everything else is loaded exactly as rendered.
    resumable = rendered["run_monitoring"]["max_resume_run_attempts"]
    assert resumable >= 1
    loadable = rendered | {"run_monitoring": rendered["run_monitoring"] | {LAUNCHER_RESUME: 0}}
    instance = _load(tmp_path, loadable)
    try:
        settings = instance.run_monitoring_settings
        assert instance.run_monitoring_enabled
        assert settings["free_slots_after_run_end_seconds"] > 0
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert instance.run_retries_retry_on_asset_or_op_failure is False
    finally:
        instance.dispose()


def test_every_instance_frees_the_slots_of_ended_runs(tmp_path):
    local = yaml.safe_load((PLATFORM / "local" / "dagster.yaml").read_text())
    for name, config in (("platform/dagster.yaml", _production()), ("local", local)):
        monitoring = config["run_monitoring"]
        assert monitoring["enabled"], name
        assert monitoring["free_slots_after_run_end_seconds"] > 0, name
    instance = _load(tmp_path, {"run_monitoring": local["run_monitoring"]})
    try:
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
    finally:
        instance.dispose()
