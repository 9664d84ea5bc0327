"""layers/norm_split.py: LayerNorm as statistics parts then normalising parts; the normalising parts'
outputs, put back in order, are the layer's output (float model), at the smoke and paper shapes."""

import pytest
import torch
from torch import nn

from zkbench.layers import get
from zkbench.layers.norm_split import (
    ChunkStats,
    counts,
    norm_input,
    norm_module,
    norm_split,
    reassemble,
    statistics,
    stats_input,
)


def layer(shape):
    torch.manual_seed(0)
    m = nn.LayerNorm(list(shape[1:])).eval()
    with torch.no_grad():  # not the identity weights of a fresh layer
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.3, 0.3)
    return m


@pytest.mark.parametrize("profile", ["smoke", "paper"])
def test_the_parts_put_back_are_the_layer(profile):
    shape = get("LayerNorm").shape(profile).input_shape
    m = layer(shape)
    x = torch.randn(shape) * 1.7 + 0.4  # a mean and a spread the statistics must find
    with torch.no_grad():
        want = m(x)
        for n in counts(m, shape)[:6]:
            s = norm_split(m, shape, n)
            stats = statistics(x, s)
            got = reassemble([norm_module(m, s, j)(norm_input(x, s, j), stats) for j in range(n)], s)
            assert got.shape == want.shape
            assert torch.allclose(got, want, atol=2e-5), (n, (got - want).abs().max())


def test_every_value_is_in_exactly_one_chunk_of_each_round():
    m = layer((1, 4, 4, 4))
    s = norm_split(m, (1, 4, 4, 4), 16)
    assert (s.stats_parts, s.norm_parts, s.parts) == (2, 16, 18)
    x = torch.arange(64.0).reshape(1, 4, 4, 4)
    assert torch.equal(torch.cat([stats_input(x, s, i) for i in range(2)], 1).flatten(), x.flatten())
    assert torch.equal(torch.cat([norm_input(x, s, j) for j in range(16)], 1).flatten(), x.flatten())
    st = ChunkStats()(stats_input(x, s, 1))
    assert st.tolist() == [[47.5, float((torch.arange(32.0, 64.0) ** 2).mean())]]


def test_what_cannot_be_decomposed_says_why():
    m = layer((1, 4, 4, 4))
    with pytest.raises(ValueError, match="do not divide its 64 values"):
        norm_split(m, (1, 4, 4, 4), 3)
    with pytest.raises(ValueError, match="2 normalising parts or more"):
        norm_split(m, (1, 4, 4, 4), 1)
    with pytest.raises(ValueError, match="only one over the whole of a batch of one"):
        norm_split(nn.LayerNorm([4]), (1, 4, 4, 4), 2)
    with pytest.raises(ValueError, match="is not a LayerNorm"):
        norm_split(nn.ReLU(), (1, 4), 2)
    assert counts(m, (1, 4, 4, 4)) == [2, 4, 8, 16, 32, 64]
