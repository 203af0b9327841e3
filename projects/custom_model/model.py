"""A small LeNet-like CNN for MNIST, in plain PyTorch (nothing nninfo-specific).

    x (1x28x28) -> conv 6@5x5, tanh, avgpool -> conv 16@5x5, tanh, avgpool     (features)
                -> flatten (400) -> dense 120, tanh -> dense 10, tanh -> dense 8, tanh
                -> dense 10 (logits)                                          (classifier)

Every hidden activation is tanh, so each probed layer lies in [-1, 1]: a natural range to
place levels or bins in. The module names below are the paths the probe takes
(``model.named_modules()``): ``features.tanh2``, ``classifier.tanh1`` etc.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn


class LeNet(nn.Module):
    def __init__(self, wide: int = 120, narrow: tuple[int, ...] = (10, 8),
                 classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(1, 6, kernel_size=5, padding=2)),
            ("tanh1", nn.Tanh()),
            ("pool1", nn.AvgPool2d(2)),                      # 6 x 14 x 14
            ("conv2", nn.Conv2d(6, 16, kernel_size=5)),
            ("tanh2", nn.Tanh()),                            # 16 x 10 x 10
            ("pool2", nn.AvgPool2d(2)),                      # 16 x 5 x 5
        ]))
        dense: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
        widths = [16 * 5 * 5, wide, *narrow]
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True), 1):
            dense += [(f"fc{i}", nn.Linear(n_in, n_out)), (f"tanh{i}", nn.Tanh())]
        dense.append(("out", nn.Linear(widths[-1], classes)))
        self.classifier = nn.Sequential(OrderedDict(dense))

    def forward(self, x):
        return self.classifier(self.features(x))
