"""``make results``: every number and figure of the README, regenerated from runs.

Each family module (``localization``, ``neurons``, ``snapshots``, ``alignment``) names the jobs
behind its README block (:class:`~knowloc.results.steps.Step`: exact ``knowloc`` arguments) and
renders their records into ``docs/results/<family>.md`` (the README block, with the commit, the
commands, the seed count and the thread count) plus CSV tables and PNG figures in
``docs/results/<family>/``. :mod:`knowloc.results.blocks` puts each ``.md`` between the README's
``<!-- results:<family>:begin -->`` and ``<!-- results:<family>:end -->`` markers.

    python -m knowloc.results [--family F ...] [--seeds N] [--render-only] [--force]
    make results [FAMILY=localization] [RESULTS_SEEDS=2]
"""

from __future__ import annotations

#: family name -> module under knowloc.results (the README block of the same name)
FAMILIES = ("localization", "neurons", "snapshots", "alignment", "locate")
