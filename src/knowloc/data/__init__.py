"""Data: the embedded MNIST subset, torchvision data sets, and the options every experiment needs."""

from knowloc.families import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "knowloc.data.sources": ["Source", "load_pool", "load_source", "SOURCES"],
    "knowloc.data.transforms": ["select_classes", "scale_images"],
    "knowloc.data.image": ["ImageDataModule", "TensorSplit"],
})
