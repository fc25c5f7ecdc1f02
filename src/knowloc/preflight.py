"""Check a command line before Hydra runs it, so that a mistake gives one clear line.

Every override is parsed; each swept value (``activation=relu,sigmoid``, ``seed=range(10)``,
and sweeps declared in ``hydra.sweeper.params``) is composed once; a group option that does not
exist, a key the config does not have, a value of the wrong type and a value out of range
(:mod:`knowloc.validation`) raise :class:`~knowloc.errors.ConfigValueError`.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf

from knowloc.errors import ConfigValueError, UserError
from knowloc.validation import validate

CONFIG_MODULE = "knowloc.conf"
_HELP = ("help", "hydra_help", "info", "shell_completion")


def _parse_args(argv: Sequence[str]):
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()

    def error(message):  # argparse would print usage and exit; one line instead
        raise UserError(f"command line: {message}")

    parser.error = error  # type: ignore[method-assign]
    return parser.parse_args(list(argv))


def _expand(overrides: list[str], swept_extra: dict[str, str]) -> tuple[list[str], list[tuple[int, str, list[str]]]]:
    """The first value of each sweep, and for each swept key its list of values."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(overrides)
    except OverrideParseException as e:
        raise UserError(f"bad override: {str(e).splitlines()[0]}") from None
    base, sweeps = [], []
    for i, (text, ov) in enumerate(zip(overrides, parsed)):
        if ov.is_sweep_override():
            try:
                values = list(ov.sweep_string_iterator())
            except Exception:
                values = []
            if not values:
                base.append(None)
                continue
            key = ov.get_key_element()
            base.append(f"{key}={values[0]}")
            sweeps.append((i, key, [f"{key}={v}" for v in values]))
        else:
            base.append(text)
    given = {ov.get_key_element().lstrip("+~") for ov in parsed}
    for key, spec in swept_extra.items():
        if key in given:
            continue
        try:
            ov = parser.parse_overrides([f"{key}={spec}"])[0]
            values = list(ov.sweep_string_iterator()) if ov.is_sweep_override() else [str(ov.value())]
        except Exception:
            continue
        base.append(f"{key}={values[0]}")
        sweeps.append((len(base) - 1, key, [f"{key}={v}" for v in values]))
    return base, sweeps


def _explain(exc: Exception, override: str | None, compose) -> UserError:
    from hydra.errors import ConfigCompositionException, MissingConfigException

    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file and "/" in exc.missing_cfg_file:
        group, _, value = exc.missing_cfg_file.rpartition("/")
        return ConfigValueError(group, value, sorted(exc.options or []))
    if isinstance(exc, MissingConfigException):
        return UserError(str(exc).splitlines()[0])
    text = str(exc)
    if isinstance(exc, ConfigCompositionException) and text.startswith("Could not override"):
        key = text.split("'")[1] if "'" in text else "?"
        value = override.split("=", 1)[1] if override and "=" in override else None
        parent, _, leaf = key.rpartition(".")
        try:
            cfg = compose([])
            node = OmegaConf.select(cfg, parent) if parent else cfg
            keys = [k for k in node.keys() if k != "hydra"] if isinstance(node, DictConfig) else []
        except Exception:
            keys = []
        where = f"of {parent}" if parent else "of the config or a config group"
        allowed = f"a known key {where} ({', '.join(map(str, keys))}); +{key}=... adds a new key"
        return ConfigValueError(key, value, allowed)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause).strip():
        first += ": " + str(cause).strip().splitlines()[0]
    return UserError(first)


def closest_first(value: str, options: Sequence[str]) -> list[str]:
    """``options`` ordered by similarity to ``value`` (difflib's ratio, highest first)."""
    import difflib

    return sorted(options, key=lambda o: (-difflib.SequenceMatcher(None, value, o).ratio(), o))


def _check_experiment(cfg: DictConfig, config_name: str = "config") -> None:
    """``experiment`` is an optional group (absent by default), so Hydra silently skips an option
    that does not exist; here it is an error naming the experiments, the closest match first."""
    from hydra.core.global_hydra import GlobalHydra

    name = OmegaConf.select(cfg, "hydra.runtime.choices.experiment", default=None)
    if name is None:
        return
    # the primary config's search path too (a sweep config in --config-dir adds pkg://knowloc.conf)
    options = GlobalHydra.instance().config_loader().get_group_options("experiment", config_name=config_name,
                                                                       overrides=[])
    if options and str(name) not in options:
        raise ConfigValueError("experiment", str(name), "one of " + ", ".join(closest_first(str(name), options)))


def _leaf(cfg: DictConfig, key: str) -> Any:
    try:
        return OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
    except Exception:
        return None


def _type_check(key: str, new: Any, old: Any) -> None:
    if old is None or new is None or OmegaConf.is_config(old):
        return
    kinds = {bool: "true or false", int: "an integer", float: "a number"}
    if isinstance(old, bool):
        ok, want = isinstance(new, bool), kinds[bool]
    elif isinstance(old, int):
        ok, want = isinstance(new, int) and not isinstance(new, bool), kinds[int]
    elif isinstance(old, float):
        ok, want = isinstance(new, (int, float)) and not isinstance(new, bool), kinds[float]
    else:
        return
    if not ok:
        raise ConfigValueError(key, new, want)


def preflight(argv: Sequence[str]) -> None:
    """Raise UserError if the command line would fail; return silently if it looks right."""
    from hydra import compose, initialize_config_dir, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    args = _parse_args(argv)
    if any(getattr(args, h, False) for h in _HELP):
        return
    if args.multirun and args.cfg:
        raise UserError("-m/--multirun and --cfg cannot be combined; print one job's config with --cfg job (no -m)")
    overrides = [o for o in args.overrides]
    config_name = args.config_name or "config"
    if args.config_dir and not os.path.isdir(args.config_dir):
        raise ConfigValueError("--config-dir", args.config_dir, "an existing folder")
    GlobalHydra.instance().clear()
    ctx = (initialize_config_dir(config_dir=os.path.abspath(args.config_dir), version_base="1.3")
           if args.config_dir else initialize_config_module(CONFIG_MODULE, version_base="1.3"))
    with ctx:
        def comp(ovs: list[str]) -> DictConfig:
            return compose(config_name, overrides=[o for o in ovs if o], return_hydra_config=True)

        def checked(ovs: list[str], culprit: str | None) -> DictConfig:
            try:
                cfg = comp(ovs)
            except Exception as e:  # Hydra/OmegaConf composition errors
                raise _explain(e, culprit, comp) from None
            _check_experiment(cfg, config_name)
            return cfg

        try:
            defaults_cfg = comp([])
        except Exception as e:
            raise _explain(e, None, comp) from None
        extra = {}
        if args.multirun:
            params = OmegaConf.select(defaults_cfg, "hydra.sweeper.params", default=None)
            extra = {str(k): str(v) for k, v in (params or {}).items()}
        base, sweeps = _expand(overrides, extra)
        # each override alone first, so the error names the culprit; with the group choices before
        # it (experiment=freeze brings the group freeze and the key callbacks.freeze_layers)
        given = [o for o in base if o]
        choices = [o for o in given if "." not in o.lstrip("+~").split("=", 1)[0]]
        for ov in given:
            before = choices[:choices.index(ov)] if ov in choices else choices
            cfg = checked(before + [ov], ov)
            key = ov.lstrip("+~").split("=", 1)[0]
            if "/" not in key and "=" in ov and not ov.startswith(("+", "~")):
                _type_check(key, _leaf(cfg, key), _leaf(defaults_cfg, key))
        cfg = checked(base, None)
        _validate(cfg)
        if not args.cfg:
            _check_output_folder(cfg, bool(args.multirun))
        for i, key, values in sweeps:
            for v in values[1:]:
                ovs = list(base)
                ovs[i] = v
                cfg_v = checked(ovs, v)
                if "/" not in key:
                    _type_check(key, _leaf(cfg_v, key), _leaf(defaults_cfg, key))
                _validate(cfg_v)
    GlobalHydra.instance().clear()


def _check_output_folder(cfg: DictConfig, multirun: bool) -> None:
    """The run (or sweep) folder can be created and written: a temporary folder is made and removed
    in it, or in its nearest existing parent, so Hydra never fails half-way creating it."""
    import tempfile
    from pathlib import Path

    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    try:
        folder = str(OmegaConf.select(cfg, key))
    except Exception:  # an interpolation only Hydra's job can resolve
        return
    path = Path(folder).expanduser().absolute()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    hint = "" if multirun or "hydra.run.dir" in " ".join(map(str, cfg.hydra.overrides.hydra)) else \
        " (set KNOWLOC_OUTPUTS or hydra.run.dir)"
    if not existing.is_dir():
        raise ConfigValueError(key, folder, f"a folder that can be written ({existing} is a file){hint}")
    try:
        tempfile.TemporaryDirectory(dir=existing).cleanup()
    except OSError as e:
        raise ConfigValueError(key, folder, f"a folder that can be written ({existing}: {e.strerror}){hint}") from None


def _validate(cfg: DictConfig) -> None:
    from omegaconf import open_dict

    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    validate(cfg)
