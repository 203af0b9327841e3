"""nninfo.checks.is_integer: the one "an int, not a bool, >= minimum" test."""

from __future__ import annotations

import numpy as np
import pytest

from nninfo.checks import is_integer


@pytest.mark.parametrize("value", [0, 1, -3, 10**30])
def test_plain_ints_pass(value):
    assert is_integer(value)
    assert is_integer(value, numpy_ints=True)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 1.0, 2.5, "3", None, [1],
                                   np.float64(2.0)])
def test_bools_and_non_integers_refused(value):
    assert not is_integer(value)
    assert not is_integer(value, numpy_ints=True)
    assert not is_integer(value, 0)


@pytest.mark.parametrize("value", [np.int64(3), np.int32(3), np.uint8(3)])
def test_numpy_ints_only_with_the_flag(value):
    assert not is_integer(value)
    assert not is_integer(value, 1)
    assert is_integer(value, numpy_ints=True)
    assert is_integer(value, 3, numpy_ints=True)
    assert not is_integer(value, 4, numpy_ints=True)


def test_minimum_is_inclusive():
    assert is_integer(2, 2)
    assert not is_integer(1, 2)
    assert is_integer(0, 0)
    assert not is_integer(-1, 0)
    assert is_integer(-5, None)
    assert not is_integer(True, 0)  # a bool is refused even when its value passes


def test_module_imports_no_numpy(tmp_path):
    """The module itself is standard-library only (numpy is looked up, never imported)."""
    import subprocess
    import sys

    code = ("import sys; import nninfo.checks as c; assert 'numpy' not in sys.modules; "
            "assert c.is_integer(3, numpy_ints=True) and not c.is_integer(True)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
