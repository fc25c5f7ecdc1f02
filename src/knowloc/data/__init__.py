"""Data: the embedded MNIST subset, torchvision data sets, and the options every experiment needs."""

from knowloc.data.sources import Source, load_pool, load_source, SOURCES
from knowloc.data.transforms import select_classes, scale_images
from knowloc.data.image import ImageDataModule, TensorSplit

__all__ = ["Source", "load_pool", "load_source", "SOURCES", "select_classes", "scale_images", "ImageDataModule", "TensorSplit"]
