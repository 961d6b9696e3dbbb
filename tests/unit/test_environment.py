"""The environment switch and the settings it derives."""

import pytest

from resources.environment import Environment, get_environment, get_settings, parse_source


def test_local_is_the_default_environment(monkeypatch):
    monkeypatch.delenv("IMAGE_PLATFORM_ENV", raising=False)
    assert get_environment() == Environment.LOCAL


def test_an_unknown_environment_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("IMAGE_PLATFORM_ENV", "staging")
    with pytest.raises(ValueError, match="local, ci, prod"):
        get_environment()


def test_sources_are_folders_or_blob_prefixes(tmp_path):
    folder = parse_source(str(tmp_path))
    assert folder.kind == "folder" and folder.path == str(tmp_path.resolve())
    blob = parse_source("blob://raw/paintings/2024")
    assert (blob.kind, blob.container, blob.prefix) == ("blob", "raw", "paintings/2024/")
    assert parse_source("blob://raw").prefix == ""
    with pytest.raises(ValueError):
        parse_source("s3://bucket/x")
    with pytest.raises(ValueError):
        parse_source("blob:///nocontainer")


def test_home_folder_holds_the_duckdb_file_and_local_blobs(monkeypatch, tmp_path):
    monkeypatch.setenv("IMAGE_PLATFORM_HOME", str(tmp_path))
    monkeypatch.delenv("IMAGE_PLATFORM_DUCKDB_PATH", raising=False)
    monkeypatch.delenv("IMAGE_PLATFORM_SOURCE", raising=False)
    settings = get_settings()
    assert settings.duckdb_path == tmp_path / "warehouse.duckdb"
    assert settings.local_blob_root == tmp_path / "blobs"
    assert settings.source.path == str(tmp_path / "demo-collection")
    assert settings.incoming.container == "incoming"
