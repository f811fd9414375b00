"""A Prunelab plug-in: the "magnitude increase" score of Zhou, Lan, Liu & Yosinski,
"Deconstructing lottery tickets: zeros, signs, and the supermask" (NeurIPS 2019).

Load it with ``python -m pruning_core --plugin examples/magnitude_increase.py run --set
pruner.score=magnitude_increase``, or put the file in ``plugins/`` (or name it in
``$PRUNELAB_PLUGINS``) and the app's form offers it.
"""

from pruning_core.api import Score, register_score


@register_score("magnitude_increase")
class MagnitudeIncrease(Score):
    """|w| − |w₀|: how much each weight grew in magnitude since initialisation (Zhou et al. 2019)."""

    units = ("weight",)          # it scores single weights

    def __call__(self, ctx):
        # ctx.weights: every prunable weight; ctx.initial: the same weights at initialisation θ₀
        return {name: w.detach().abs() - ctx.initial[name].abs() for name, w in ctx.weights.items()}
