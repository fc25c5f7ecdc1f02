"""Networks (plain ``nn.Module``s with named layers) and the Lightning module that trains them."""

from knowloc.families import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "knowloc.models.nets": ["MLP", "LeNet5", "LeNetWSS", "init_weights"],
    "knowloc.models.classifier": ["ClassifierModule"],
})
