"""knowloc.alignment: distributed alignment search (DAS) on hierarchical equality.

``knowloc experiment=equality`` trains the MLP 16-16-16-2 on y = ((a = b) = (c = d));
``knowloc experiment=alignment`` trains (or loads, ``alignment.checkpoint=RUN``) that network and
searches its input (layer 0) and hidden layers for the variables a=b and c=d with learned rotations,
started from the data (:mod:`knowloc.alignment.starts`) and at random.

Where things are
----------------
``options`` (every choice and range: the preflight's rules, read by the constructors),
``artefacts`` (every file written into the run folder and every result name, with their writers and
readers), ``data`` (equality samples, interchange triples), ``network`` (train or load the network),
``interchange`` (interventions), ``starts`` (data starts), ``search`` (:class:`AlignmentSearch`),
``baselines`` (best neurons, random rotation), ``report`` (tables, figure, results of a search).
"""

from knowloc.families import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "knowloc.alignment.data": ["EqualityDataModule", "InterchangeDataModule"],
    "knowloc.alignment.network": ["equality_network"],
    "knowloc.alignment.search": ["AlignmentSearch"],
})
