"""Argument checks shared by every room of the package (standard library only).

:func:`is_integer` is the one test of "an integer count/index/seed" that the config, the
network, the tasks, the training, the capture and the information measures use: an ``int``
(bools refused, although ``bool`` subclasses ``int``), at least ``minimum`` when given; with
``numpy_ints``, numpy integer scalars (``np.int64(3)``) count too. Each caller words its own
error message.
"""

from __future__ import annotations

import sys

__all__ = ["is_integer"]


def is_integer(value: object, minimum: int | None = None, *, numpy_ints: bool = False) -> bool:
    """True if ``value`` is an ``int`` and not a ``bool``, and ``value >= minimum`` when
    ``minimum`` is not None. With ``numpy_ints``, numpy integer scalars are accepted too
    (``np.bool_`` is not a numpy integer, so it stays refused)."""
    if isinstance(value, bool):
        return False
    if not isinstance(value, int) and not (numpy_ints and _is_numpy_integer(value)):
        return False
    return minimum is None or value >= minimum


def _is_numpy_integer(value: object) -> bool:
    # numpy is not imported here: a value can only be a numpy scalar once numpy is loaded
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.integer)
