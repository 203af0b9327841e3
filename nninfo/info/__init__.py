"""The information core (numpy/scipy only): I^sx PID, Shannon invariants, Reing complexity,
surrogates, BROJA and the other PID measures through dit, per-class (target-pointwise)
PID summaries.

Inputs are integer samples ``(N, n_sources + 1)`` with the target in the last column, or an
outcome table with probabilities (e.g. a noisy layer's table from :mod:`nninfo.info.binning`;
the entropy-based measures take its probabilities as ``weights``).
"""

from nninfo.info import catalog  # registers the built-in measures (and names their results)
from nninfo.info.bias import sx_pid_surrogates
from nninfo.info.binning import goldfeld_outcomes, smoothed_outcomes
from nninfo.info.broja import BrojaPID, broja_pid
from nninfo.info.classwise import class_atoms, class_summaries
from nninfo.info.entropy import conditional_entropy, joint_entropy, mutual_information
from nninfo.info.lattice import RedundancyLattice, redundancy_lattice
from nninfo.info.measure import Measure
from nninfo.info.reing import ReingComplexity, reing_complexity
from nninfo.info.shannon import (
    EntropyInvariants,
    ShannonInvariants,
    entropy_invariants,
    shannon_invariants,
)
from nninfo.info.surrogates import mi_surrogates, shuffled_target_surrogates
from nninfo.info.sx import SxPID, ZeroInformationWarning, sx_pid


def dit_pid(*args, **kwargs):
    """Any dit PID measure by name (imports dit lazily); see :mod:`nninfo.info.dit_bridge`."""
    from nninfo.info.dit_bridge import dit_pid as _dit_pid

    return _dit_pid(*args, **kwargs)


__all__ = [
    "catalog",
    "BrojaPID",
    "EntropyInvariants",
    "Measure",
    "ReingComplexity",
    "RedundancyLattice",
    "ShannonInvariants",
    "SxPID",
    "ZeroInformationWarning",
    "broja_pid",
    "class_atoms",
    "class_summaries",
    "conditional_entropy",
    "dit_pid",
    "entropy_invariants",
    "goldfeld_outcomes",
    "joint_entropy",
    "mi_surrogates",
    "mutual_information",
    "redundancy_lattice",
    "reing_complexity",
    "shannon_invariants",
    "shuffled_target_surrogates",
    "smoothed_outcomes",
    "sx_pid",
    "sx_pid_surrogates",
]
