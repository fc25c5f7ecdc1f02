"""OmegaConf resolvers used by the configs (registered when knowloc is imported)."""

from __future__ import annotations

from omegaconf import OmegaConf

_CHANNELS = {"cifar10": 3}
_SIZES = {"cifar10": 32}


def num_classes(classes) -> int:
    """``${knowloc.num_classes:${data.classes}}``: len(classes), or 10 when all classes are kept."""
    return 10 if classes is None else len(classes)


def by_activation(mapping, name):
    """``${knowloc.by_activation:${equality.lr},${activation.name}}``: mapping[name], else
    mapping["default"] (a plain number is returned as it is)."""
    if not hasattr(mapping, "keys"):
        return mapping
    return mapping[name] if name in mapping else mapping["default"]


def seeds(n, start=0) -> list[int]:
    """``${knowloc.seeds:1000}``: the list [start, ..., start + n - 1] (a seed list for stacked runs)."""
    return list(range(int(start), int(start) + int(n)))


def register() -> None:
    for name, fn in {
        "knowloc.num_classes": num_classes,
        "knowloc.channels": lambda data_name: _CHANNELS.get(str(data_name), 1),
        "knowloc.image_size": lambda data_name: _SIZES.get(str(data_name), 28),
        "knowloc.by_activation": by_activation,
        "knowloc.seeds": seeds,
    }.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
