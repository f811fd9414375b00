"""SNIP (Lee, Ajanthan & Torr, "SNIP: Single-shot network pruning based on connection
sensitivity", ICLR 2019), written only through the public plug-in API.

The connection sensitivity of weight j is s_j = |g_j| / Σ_k |g_k| with g_j = ∂L(c ⊙ w)/∂c_j at
c = 1, which is w_j · ∂L/∂w_j; the normalisation does not change the ranking, so the score is
|w · ∂L/∂w| on one batch of training data (L the mean cross-entropy, current masks applied, the
network in eval mode). The paper prunes once at initialisation: use it with the ``at_init``
algorithm (``algorithm.name = "at_init"``); with ``imp`` it is iterative SNIP on trained weights.
"""

from pruning_core.api import Score, option, register_score


@register_score("snip", label="snip (Lee et al. 2019)")
class Snip(Score):
    """SNIP's connection sensitivity |w · ∂L/∂w| on one training batch (Lee et al. 2019)."""

    units = ("weight",)
    suggests = {"pruner.unit": "weight"}

    batch: int = option(100, "Training images in the batch whose loss gradient scores the weights "
                        "(SNIP used one batch of 100).", low=1)

    def __call__(self, ctx):
        x, y = ctx.batch(self.batch)
        grads = ctx.gradients(x, y)
        return {n: (ctx.weights[n].detach() * grads[n]).abs() for n in ctx.layers}
