"""The small protocol every measure result shares: a ``name`` and namespaced scalars.

A result class (:class:`~nninfo.info.sx.SxPID`, :class:`~nninfo.info.shannon.ShannonInvariants`,
...) subclasses :class:`Measure`, sets ``name`` and implements :meth:`Measure._scalars`
(its scalar summaries under plain names). :meth:`Measure.to_dict` then returns them as
``<name>.<quantity>``, e.g. ``pid.mutual_information`` and ``shannon.mutual_information``,
so the dicts of several measures can be merged without one overwriting another.
"""

from __future__ import annotations

from typing import ClassVar

SEPARATOR = "."


class Measure:
    """Base of the measure results: ``name`` (class attribute) and namespaced ``to_dict``."""

    name: ClassVar[str] = ""

    @classmethod
    def key(cls, quantity: str) -> str:
        """This measure's key of ``quantity``: ``SxPID.key("deg_syn_2") == "pid.deg_syn_2"``."""
        return f"{cls.name}{SEPARATOR}{quantity}"

    def _scalars(self) -> dict[str, float]:
        """Scalar summaries under plain quantity names (no namespace)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, float]:
        """Flat dict for logging: ``<name>.<quantity>`` -> value (floats)."""
        if not self.name:
            raise TypeError(f"{type(self).__name__}.name is empty; a Measure needs a name")
        return {self.key(k): float(v) for k, v in self._scalars().items()}
