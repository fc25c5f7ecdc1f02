"""Networks (plain ``nn.Module``s with named layers) and the Lightning module that trains them."""

from knowloc.models.nets import MLP, LeNet5, LeNetWSS, init_weights
from knowloc.models.classifier import ClassifierModule

__all__ = ["MLP", "LeNet5", "LeNetWSS", "init_weights", "ClassifierModule"]
