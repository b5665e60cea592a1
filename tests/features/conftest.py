"""Shared fixtures of the feature tests: a small hand-made world and helpers to compare frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from .synthetic import make_world


@pytest.fixture(scope="session")
def world() -> tuple[pd.DataFrame, pd.DataFrame]:
    """About 3,000 items over 60 days with ties, missing values and extra columns."""
    return make_world(3000, seed=3)


def assert_same_features(a: pd.DataFrame, b: pd.DataFrame, rtol: float = 0.0) -> None:
    """Numeric columns equal (bit for bit when rtol is 0, NaN where NaN), categoricals equal as
    values and as codes."""
    assert list(a.columns) == list(b.columns)
    for column in a.columns:
        x, y = a[column], b[column]
        if isinstance(x.dtype, pd.CategoricalDtype):
            assert isinstance(y.dtype, pd.CategoricalDtype), column
            np.testing.assert_array_equal(
                x.astype(object).to_numpy(), y.astype(object).to_numpy(), err_msg=column
            )
            np.testing.assert_array_equal(x.cat.codes, y.cat.codes, err_msg=column)
        else:
            xv, yv = x.to_numpy(dtype=np.float64), y.to_numpy(dtype=np.float64)
            if rtol == 0.0:
                np.testing.assert_array_equal(xv, yv, err_msg=column)
            else:
                np.testing.assert_allclose(xv, yv, rtol=rtol, atol=0, err_msg=column)
