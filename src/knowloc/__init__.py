"""knowloc: experiment tracking for knowledge-localization research."""

from knowloc.resolvers import register as _register_resolvers

__version__ = "0.1.0"
_register_resolvers()
