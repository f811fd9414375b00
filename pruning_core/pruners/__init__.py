"""Pruners: score × unit × grouping × selection, over the conv and linear weights.

* a **score** (:mod:`.scores`, registered; plug-ins add more) ranks units, lower first;
* a **unit** (:mod:`.units`) is what is removed: a weight, an input channel, an output filter
  (with the next layer's matching inputs), or hybrid;
* a **grouping** (:mod:`.grouping`) says which layers are ranked together, at which rate;
* a **selection** (:mod:`.selection`) turns scores into masks: a fraction of the alive units of
  each group, or every unit scoring at most a threshold (AIAP's T[r]).

:func:`.pruner.make_pruner` composes them for a config; the algorithms call only
``pruner.prune(masks, step, round_index, generator)``. The vocabulary modules (scores, grouping,
vocabulary) import no torch; this package's ``__init__`` imports nothing.
"""
