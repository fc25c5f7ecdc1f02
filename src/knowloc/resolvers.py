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


def experiment_descriptions() -> dict[str, str]:
    """``{name: first sentence}`` of the comment heading each ``conf/experiment/<name>.yaml``
    (the lines after ``# @package``, up to the first example line ``#   knowloc ...``)."""
    import re
    from importlib import resources

    out = {}
    for f in sorted(resources.files("knowloc.conf").joinpath("experiment").iterdir(), key=lambda f: f.name):
        if not f.name.endswith(".yaml"):
            continue
        words = []
        for line in f.read_text().splitlines():
            if line.startswith("# @package"):
                continue
            if not line.startswith("#") or line.startswith("#  "):
                break
            words.append(line[1:].strip())
        text = " ".join(words)
        out[f.name[:-5]] = re.split(r"(?<=[.;])\s", text, maxsplit=1)[0].rstrip(".;")
    return out


def experiments_help() -> str:
    """``${knowloc.experiments_help:}``: one entry per experiment for ``knowloc --help``."""
    import textwrap

    lines = []
    for name, text in experiment_descriptions().items():
        lines += textwrap.wrap(text, width=100, initial_indent=f"  {name:<20}", subsequent_indent=" " * 22)
    return "\n".join(lines)


def options_help() -> str:
    """``${knowloc.options_help:}``: every checked key and what it allows for ``knowloc --help``,
    the platform's first, then each family's, read from the rules themselves
    (:mod:`knowloc.validation`, ``knowloc.<family>.options``)."""
    import textwrap

    from knowloc import families
    from knowloc.validation import RULES

    per_family = [(family, list(families.family_rules(family))) for family in families.FAMILIES]
    family_keys = {k for _, keys in per_family for k in keys}
    sections = [("platform", [k for k in RULES if k not in family_keys])] + [s for s in per_family if s[1]]
    lines = []
    for title, keys in sections:
        lines.append(f"  [{title}]")
        for key in keys:
            lines += textwrap.wrap(RULES[key][1], width=100, initial_indent=f"    {key:<44} ",
                                   subsequent_indent=" " * 49, break_on_hyphens=False)
    return "\n".join(lines)


def seeds(n, start=0) -> list[int]:
    """``${knowloc.seeds:1000}``: the list [start, ..., start + n - 1] (a seed list for stacked runs)."""
    return list(range(int(start), int(start) + int(n)))


def register() -> None:
    for name, fn in {
        "knowloc.num_classes": num_classes,
        "knowloc.channels": lambda data_name: _CHANNELS.get(str(data_name), 1),
        # ${knowloc.image_size:${data.name},${oc.select:data.pad,0}}: the side after pixel padding
        "knowloc.image_size": lambda data_name, pad=0: _SIZES.get(str(data_name), 28) + 2 * int(pad or 0),
        "knowloc.by_activation": by_activation,
        "knowloc.experiments_help": experiments_help,
        "knowloc.options_help": options_help,


        "knowloc.seeds": seeds,
    }.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
