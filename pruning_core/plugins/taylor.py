"""First-order Taylor importance of filters (Molchanov, Mallya, Tyree, Frosio & Kautz,
"Importance estimation for neural network pruning", CVPR 2019), written only through the public
plug-in API.

Removing filter f sets its activation a_f to zero; to first order that changes the loss by
Σ a · ∂L/∂a over the filter's outputs. The score is |Σ_{n,h,w} a · ∂L/∂a| over one batch (n the
images, h × w the positions), a the filter's post-ReLU output — what the next layer reads, and
what output-filter pruning removes — with L the mean cross-entropy, the current masks applied and
the network in eval mode. Scores of different layers are comparable, so global ranking (the
paper's) is allowed.
"""

from pruning_core.api import Score, option, register_score


@register_score("taylor", label="taylor (Molchanov et al. 2019)")
class Taylor(Score):
    """First-order Taylor importance |Σ a · ∂L/∂a| of each filter / neuron over one batch (Molchanov et al. 2019)."""

    units = ("output_filter",)
    suggests = {"pruner.unit": "output_filter"}

    batch: int = option(64, "Training images in the batch that scores the filters.", low=1)

    def __call__(self, ctx):
        x, y = ctx.batch(self.batch)
        return {n: ctx.per_filter_sum(a.double() * g.double()).abs()
                for n, (a, g) in ctx.activations_and_gradients(x, y).items()}
