"""Random subsets of a layer's neurons as PID sources follow the published rule."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from nninfo.config import ConfigError, Grouping, build_config
from tests.helpers import tishby_layers


def _published(width: int, size: int, count: int, seed: int) -> list[list[int]]:
    """The published notebook's procedure, literally: seed the global NumPy generator,
    shuffle the combination numbers, walk itertools.combinations to each chosen number."""
    out = []
    for i in range(count):
        np.random.seed(seed)
        rand = np.random.permutation(math.comb(width, size))
        combos = itertools.combinations(range(width), size)
        out.append(list(next(x for j, x in enumerate(combos) if j == rand[i])))
    return out


@pytest.mark.parametrize("width, size, count, seed", [
    (10, 5, 26, 1234),   # mnist_4levels_onehot, Fig. 5B
    (10, 5, 252, 1234),  # every subset, each once
    (12, 3, 7, 0),
])
def test_random_subsets_follow_the_published_rule(width, size, count, seed):
    grouping = Grouping(name="r", kind="random_subsets", size=size, count=count, seed=seed)
    sets = grouping.source_sets(width)
    assert [[s[0] for s in sources] for sources in sets] == _published(width, size, count,
                                                                         seed)
    assert len({tuple(s[0] for s in sources) for sources in sets}) == count, "distinct"


def test_wide_layers_still_get_distinct_subsets():
    sets = Grouping(name="r", kind="random_subsets", size=5, count=40, seed=1).source_sets(784)
    assert len({tuple(s[0] for s in sources) for sources in sets}) == 40


def test_more_subsets_than_exist_is_a_config_error():
    raw = {"name": "subsets", "task": {"name": "tishby"},
           "network": {"layers": tishby_layers(4, levels=3)},
           "training": {"loss": "bce"},
           "analysis": {"layers": ["L1"], "groupings": [
               {"name": "r", "kind": "random_subsets", "size": 2, "count": 7}]}}
    with pytest.raises(ConfigError, match=r"analysis.groupings\[r\].count: 7 .*C\(4, 2\) = 6"):
        build_config(raw)
