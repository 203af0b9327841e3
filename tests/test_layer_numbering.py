"""Layer numbering of the paper projects against the published code's naming rule.

The published package names activations in ``NeuralNetwork.forward`` as
``"L" + str(i + 1)`` over ``layer_infos``, and every published notebook's first LayerInfo is
``connection_layer='input'``: its L1 is the input, L2 the first layer after it. Its NeuronID
indices are 1-based (``Experiment``: ``idx + 1`` of the zero-based array index). Ours: X the
input, L1..Lk the entries of ``network.layers``, groups 0-based. The tables below transcribe
each notebook's ``layer_infos`` after the input as (connection layer, units) and the sources
its analysis cells name; the tests map them through the published rule onto our configs.
Config-level only: no training, no data.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from nninfo.cli import _prepare
from nninfo.config import ExperimentConfig, load_config
from nninfo.nn.network import Network

PROJECTS = Path(__file__).resolve().parents[1] / "projects"

MNIST_HIDDEN = [("linear", 50), ("linear", 10), ("linear", 5), ("linear", 5), ("linear", 5)]
# each notebook's layer_infos after its input entry: (connection_layer, units of the output)
PUBLISHED_LAYERS = {
    "tishby_demo": [("linear", 12), ("linear", 4), ("linear", 4), ("linear", 4), ("linear", 1)],
    "mnist_8levels_onehot": [*MNIST_HIDDEN, ("linear", 10)],
    "mnist_8levels_binary": [*MNIST_HIDDEN, ("linear", 4)],
    "mnist_4levels_onehot": [*MNIST_HIDDEN, ("linear", 10)],
    "shannon_invariants_mnist": [*MNIST_HIDDEN, ("linear", 10)],
    "cifar10": [("conv2d", 32 * 32 * 32), ("maxpool2d", 32 * 16 * 16), ("conv2d", 32 * 16 * 16),
                ("maxpool2d", 32 * 8 * 8), ("conv2d", 64 * 8 * 8), ("maxpool2d", 64 * 4 * 4),
                ("flatten", 1024), ("linear", 2048), ("linear", 128), ("linear", 32),
                ("linear", 5), ("linear", 5), ("linear", 10)],
    # units from the notebook's layer_shapes (channels x rows x columns)
    "shannon_invariants_autoencoder": [
        ("conv2d", 8 * 32 * 32), ("maxpool2d", 8 * 16 * 16), ("conv2d", 16 * 16 * 16),
        ("maxpool2d", 16 * 8 * 8), ("conv2d", 32 * 8 * 8), ("maxpool2d", 32 * 4 * 4),
        ("flatten", 512), ("linear", 128), ("linear", 512), ("reshape", 32 * 4 * 4),
        ("conv2d_transpose", 16 * 8 * 8), ("conv2d_transpose", 8 * 16 * 16),
        ("conv2d_transpose", 3 * 32 * 32)],
}
OUR_TYPE = {"conv2d_transpose": "conv_transpose2d"}  # published connection_layer -> ours


def published_names(project: str) -> list[str]:
    """The published rule: layer_infos[i] is "L" + str(i + 1), layer_infos[0] the input."""
    layer_infos = [("input", None), *PUBLISHED_LAYERS[project]]
    return ["L" + str(i + 1) for i in range(len(layer_infos))]


@cache
def config(project: str) -> ExperimentConfig:
    return load_config(PROJECTS / project / "config.yaml")


@cache
def network(project: str) -> Network:
    """The project's network (built once: the option tests change only the analysis)."""
    shape = config(project).network.input_shape
    return Network(list(config(project).network.layers), seed=0,
                   input_shape=None if shape is None else tuple(shape))


def published_to_ours(project: str) -> dict[str, str]:
    """Published layer name -> our layer name, matching the layers entry by entry (the
    published network is our network.layers behind an input entry)."""
    net = network(project)
    published = PUBLISHED_LAYERS[project]
    assert len(published) == len(net.layer_names), project
    for (kind, units), spec, ours in zip(published, net.layer_specs, net.layer_names,
                                         strict=True):
        assert spec["type"] == OUR_TYPE.get(kind, kind), (project, ours)
        assert net.layer_width(ours) == units, (project, ours)
    return dict(zip(published_names(project)[1:], net.layer_names, strict=True))


def analysed_sources(cfg: ExperimentConfig, project: str) -> dict[str, list[list[list[int]]]]:
    """Our layer -> its source sets (0-based unit indices), over the groupings it gets."""
    net = network(project)
    return {layer: [sources for g in cfg.analysis.groupings if g.applies_to(layer)
                    for sources in g.source_sets(net.layer_width(layer))]
            for layer in cfg.analysis.layers}


def literal_sources(project: str, notebook: dict[str, list[int]]) -> dict[str, list]:
    """A notebook's single-unit sources (published layer -> 1-based units), in our names."""
    names = published_to_ours(project)
    return {names[layer]: [[[u - 1] for u in units]] for layer, units in notebook.items()}


@pytest.mark.parametrize("project", sorted(PUBLISHED_LAYERS))
def test_published_layer_n_is_our_layer_n_minus_1(project):
    mapping = published_to_ours(project)
    assert "L1" not in mapping  # the published L1 is the input: X here
    assert all(int(ours[1:]) == int(pub[1:]) - 1 for pub, ours in mapping.items())


def test_shannon_invariants_mnist_analyses_the_published_notebook_s_sources():
    # shannon_invariants_scripts/1_shannon_invariants_mnist.ipynb: for layer in [3, 4, 5],
    # sources NeuronID(f'L{layer}', (1,)) .. (5,), each one source
    notebook = {f"L{n}": [1, 2, 3, 4, 5] for n in (3, 4, 5)}
    expected = literal_sources("shannon_invariants_mnist", notebook)
    assert expected == {"L2": [[[0], [1], [2], [3], [4]]], "L3": [[[0], [1], [2], [3], [4]]],
                        "L4": [[[0], [1], [2], [3], [4]]]}
    project = "shannon_invariants_mnist"
    assert analysed_sources(config(project), project) == expected
    assert network(project).layer_width("L2") == 10  # units 1-5 of the 10-unit layer


def test_shannon_invariants_mnist_readme_option_gives_the_three_5_unit_layers():
    readme = (PROJECTS / "shannon_invariants_mnist" / "README.md").read_text()
    found = re.search(r'-P set="(analysis\.layers=\[L3,L4,L5\][^"]*)"', readme)
    assert found, "the README gives the -P set=... option for the paper's 5-unit layers"
    cfg, _, _ = _prepare(PROJECTS / "shannon_invariants_mnist" / "config.yaml",
                         sets=(found.group(1),))
    five = [[[0], [1], [2], [3], [4]]]
    assert analysed_sources(cfg, "shannon_invariants_mnist") == {"L3": five, "L4": five, "L5": five}
    assert {network("shannon_invariants_mnist").layer_width(n) for n in ("L3", "L4", "L5")} == {5}


def test_autoencoder_analyses_the_published_layers_3_5_7_9_11_12_13():
    # shannon_invariants_scripts/2_shannon_invariants_autoencoder.ipynb: for layer in
    # [3, 5, 7, 9, 11, 12, 13], every unit of np.ndindex(layer_shapes[layer]) one source
    project = "shannon_invariants_autoencoder"
    units = dict(zip(published_names(project)[1:], (u for _, u in PUBLISHED_LAYERS[project]),
                     strict=True))
    notebook = {f"L{n}": list(range(1, units[f"L{n}"] + 1)) for n in (3, 5, 7, 9, 11, 12, 13)}
    expected = literal_sources(project, notebook)
    assert list(expected) == ["L2", "L4", "L6", "L8", "L10", "L11", "L12"]
    assert analysed_sources(config(project), project) == expected


# The TMLR notebooks' loops name layers by number (tishby [2, 3, 4]; MNIST [3, 4, 5];
# cifar [10, 11]) with one source per unit 1..n. Read with the published rule they are
# shifted layers; the projects analyse the paper's layers instead: all units of the layers
# whose width is the notebook's number of sources (4 in the demo, 5 elsewhere).
TMLR = {
    # project: (notebook's layer numbers, its sources per layer, our analysed layers)
    "tishby_demo": ([2, 3, 4], 4, ["L2", "L3", "L4"]),
    "mnist_8levels_onehot": ([3, 4, 5], 5, ["L3", "L4", "L5"]),
    "mnist_8levels_binary": ([3, 4, 5], 5, ["L3", "L4", "L5"]),
    "cifar10": ([10, 11], 5, ["L11", "L12"]),
}


@pytest.mark.parametrize("project", sorted(TMLR))
def test_tmlr_projects_analyse_the_paper_s_layers_not_the_shifted_ones(project):
    numbers, n_sources, ours = TMLR[project]
    names = published_to_ours(project)
    cfg = config(project)
    net = network(project)
    literal = [names[f"L{n}"] for n in numbers]
    assert net.layer_width(literal[0]) > n_sources  # run literally: a unit subset of a wider layer
    hidden = net.layer_names[:-1]
    assert ours == [n for n in hidden if net.layer_width(n) == n_sources]
    assert list(cfg.analysis.layers) == ours
    every_unit = [[[i] for i in range(n_sources)]]
    assert analysed_sources(cfg, project) == {layer: every_unit for layer in ours}


def test_mnist_4levels_subsets_and_pairs_are_of_the_10_unit_layer():
    # 3_tmlr_mnist_4levels_onehot.ipynb: NeuronID('L2', ...) with layer_width=10 hard-coded
    # and the curve labelled $L_2$; the published rule's L2 has 50 units (our L1), so the
    # notebook means the paper's 10-unit L2, which is ours
    project = "mnist_4levels_onehot"
    names = published_to_ours(project)
    cfg = config(project)
    net = network(project)
    assert net.layer_width(names["L2"]) == 50
    assert net.layer_width("L2") == 10
    by_name = {g.name: g for g in cfg.analysis.groupings}
    assert by_name["random5"].layers == ("L2",) and by_name["pairs"].layers == ("L2",)
    assert by_name["neurons"].layers == ("L3", "L4", "L5")


@pytest.mark.parametrize("project", sorted(TMLR))
def test_tmlr_readme_option_reproduces_the_notebook_cells_run_literally(project):
    numbers, n_sources, _ = TMLR[project]
    notebook = {f"L{n}": list(range(1, n_sources + 1)) for n in numbers}
    readme = (PROJECTS / project / "README.md").read_text()
    layers = readme[readme.index("## Layers"):]
    found = re.search(r'-P set="(analysis\.layers=[^"]*)"', layers)
    assert found, "the README's Layers section gives the literal cells as a -P set=... option"
    cfg, _, _ = _prepare(PROJECTS / project / "config.yaml", sets=(found.group(1),))
    assert analysed_sources(cfg, project) == literal_sources(project, notebook)
