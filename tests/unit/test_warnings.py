"""The test run's warning policy (pyproject's filterwarnings): any warning raised from the
project's own modules fails the test, a third-party one is left to its explicit, reasoned filter."""

import warnings

import pytest


def test_a_warning_raised_in_a_test_module_is_an_error():
    with pytest.raises(DeprecationWarning, match="an API the project should not call"):
        warnings.warn("an API the project should not call", DeprecationWarning, stacklevel=1)


@pytest.mark.parametrize("module", ["assets.ingest.assets", "resources.blob_store", "assets"])
def test_a_warning_attributed_to_a_project_module_is_an_error(module):
    with pytest.raises(FutureWarning, match="pandas will change"):
        warnings.warn_explicit("pandas will change", FutureWarning, f"{module}.py", 1, module)


@pytest.mark.parametrize("category", [UserWarning, RuntimeWarning, DeprecationWarning])
def test_a_warning_of_any_class_from_project_code_is_an_error(category):
    with pytest.raises(category, match="not only deprecations"):
        warnings.warn_explicit("not only deprecations", category, "assets/plots.py", 1, "assets")


@pytest.mark.parametrize("module", ["dagster._core.definitions", "assetsfoo", "pandas.core"])
def test_a_warning_from_another_package_is_reported_not_raised(module):
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn_explicit("their deprecation", FutureWarning, f"{module}.py", 1, module)
    assert [str(w.message) for w in caught] == ["their deprecation"]
