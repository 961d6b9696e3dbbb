"""Secrets and hygiene: connection strings escape their values, the SQL password is a secret dbt
scrubs, Markdown metadata shows names literally, finished runs leave no dbt target folders."""

import os
import time

import dagster as dg
import pandas as pd
import pytest
import yaml

from assets.dedup.project import (
    DBT_PROJECT_DIR,
    DBT_SECRET_PASSWORD_ENV,
    SQLSERVER_TARGET,
    WarehouseDbtCliResource,
    dbt_executable,
    prune_invocation_targets,
)
from assets.metadata import md_table
from resources.warehouse.azure_sql_warehouse import AzureSqlWarehouse


def _parse_odbc(text: str) -> dict[str, str]:
    """An ODBC connection string as a driver reads it: ``{...}`` values, ``}}`` for ``}``."""
    out, i = {}, 0
    while i < len(text):
        key_end = text.index("=", i)
        key, i = text[i:key_end], key_end + 1
        if text.startswith("{", i):
            value, i = "", i + 1
            while True:
                j = text.index("}", i)
                value += text[i:j]
                if text.startswith("}}", j):
                    value, i = value + "}", j + 2
                    continue
                i = j + 1
                break
        else:
            j = text.find(";", i)
            j = len(text) if j < 0 else j
            value, i = text[i:j], j
        out[key.upper()] = value
        i += 1 if text.startswith(";", i) else 0
    return out


def test_connection_string_values_cannot_inject_attributes():
    password = "p;UID=sa;Encrypt=no}{ "
    warehouse = AzureSqlWarehouse(
        server="db.example.net", database="images;x", user="reader", password=password
    )
    parsed = _parse_odbc(warehouse.connection_string())
    assert parsed["PWD"] == password and parsed["UID"] == "reader"
    assert parsed["DATABASE"] == "images;x" and parsed["ENCRYPT"] == "yes"


def test_the_sql_password_reaches_dbt_only_as_a_secret_it_scrubs(monkeypatch):
    from dbt_common.exceptions.base import env_secrets, scrub_secrets

    profiles = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    password = profiles["image_platform"]["outputs"]["sqlserver"]["password"]
    assert DBT_SECRET_PASSWORD_ENV in password and DBT_SECRET_PASSWORD_ENV.startswith(
        "DBT_ENV_SECRET_"
    )
    # Set under the warehouse's name only, dbt would connect without it: a clear failure first.
    monkeypatch.setenv("IMAGE_PLATFORM_SQL_PASSWORD", "hunter2-very-secret")
    monkeypatch.delenv(DBT_SECRET_PASSWORD_ENV, raising=False)
    dbt = WarehouseDbtCliResource(
        project_dir=str(DBT_PROJECT_DIR), target=SQLSERVER_TARGET, dbt_executable=dbt_executable()
    )
    with pytest.raises(dg.Failure, match=DBT_SECRET_PASSWORD_ENV) as failure:
        dbt.cli(["debug"])
    assert "hunter2" not in str(failure.value)
    monkeypatch.setenv(DBT_SECRET_PASSWORD_ENV, "hunter2-very-secret")
    dbt.check_secret_environment()  # both names set, as the deployment does
    scrubbed = scrub_secrets("login failed for password hunter2-very-secret", env_secrets())
    assert "hunter2" not in scrubbed


def test_markdown_tables_show_hostile_names_literally():
    names = ["new\nline|pipe.jpg", "**bold** [link](http://x) <img src=x>.jpg", "`code` ~~s~~"]
    table = md_table(pd.DataFrame({"name": names, "reason": "no_label_folder"}))
    lines = table.splitlines()
    assert len(lines) == 2 + len(names)  # header, rule, one line per row: no row broken
    for line in lines[2:]:
        body = line.replace("\\|", "")
        assert body.count("|") == 3  # only the cell separators
        assert "<img" not in line.replace("\\<img", "") and "**" not in line.replace("\\*", "")
    assert "no_label_folder" in table


def test_target_folders_of_runs_that_did_not_finish_are_pruned(tmp_path):
    target = tmp_path / "target"
    old = target / "dedup_dbt_models-1a2b3c4-5d6e7f8"
    recent = target / "dedup_dbt_models-9a8b7c6-0d1e2f3"
    for folder in (old, recent):
        folder.mkdir(parents=True)
        (folder / "run_results.json").write_text("{}")
    (target / "manifest.json").write_text("{}")
    past = time.time() - 7 * 3600
    os.utime(old, (past, past))
    assert prune_invocation_targets(target) == 1
    assert sorted(p.name for p in target.iterdir()) == [
        "dedup_dbt_models-9a8b7c6-0d1e2f3",
        "manifest.json",
    ]
