import pytest
import torch
from torch import nn

from qmr_core.errors import QmrError
from qmr_core.quant.rtn import RTNSpec, choose_group_size, fake_quantize, parse_rtn_tag, rtn_quantize_


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
def test_levels_per_group_and_error_shrinks(bits, symmetric):
    torch.manual_seed(0)
    w = torch.randn(16, 128)
    q = fake_quantize(w, RTNSpec(bits, 32, symmetric))
    for row in q.reshape(16, 4, 32).reshape(-1, 32):
        assert len(torch.unique(row)) <= 2**bits
    err = (w - q).norm() / w.norm()
    assert err < {2: 0.9, 3: 0.4, 4: 0.2, 8: 0.02}[bits]


def test_symmetric_grid_matches_compressed_tensors_convention():
    w = torch.tensor([[-1.0, -0.5, 0.25, 1.0]])
    q = fake_quantize(w, RTNSpec(4, 4, True))
    scale = 1.0 / 7.5
    assert torch.allclose(q, torch.round(w / scale).clamp(-8, 7) * scale)


def test_asymmetric_range_contains_zero_and_constant_rows():
    w = torch.tensor([[0.5, 0.6, 0.7, 0.8]])  # all positive: the range is stretched to 0
    q = fake_quantize(w, RTNSpec(4, 4, False))
    assert (q - w).abs().max() < 0.8 / 15
    zeros = fake_quantize(torch.zeros(2, 4), RTNSpec(3, 4))
    assert torch.equal(zeros, torch.zeros(2, 4))


def test_rtn_quantize_in_place_skips_lm_head_and_reports_errors():
    model = nn.Sequential()
    model.add_module("proj", nn.Linear(64, 32, bias=False))
    model.add_module("lm_head", nn.Linear(32, 10, bias=False))
    head = model.lm_head.weight.clone()
    errors = rtn_quantize_(model, RTNSpec(3, 32))
    assert set(errors) == {"proj"} and 0 < errors["proj"] < 1
    assert torch.equal(model.lm_head.weight, head)
    with pytest.raises(QmrError, match="does not divide"):
        rtn_quantize_(model, RTNSpec(4, 48))
    assert choose_group_size(model) == 64  # lm_head is skipped; proj is 64 wide


def test_choose_group_size_for_smollm_width():
    model = nn.Sequential(nn.Linear(576, 8), nn.Linear(8 * 72, 4))
    assert choose_group_size(model) == 64


def test_tags():
    assert parse_rtn_tag("rtn-w4g64") == RTNSpec(4, 64, True)
    assert parse_rtn_tag("rtn-w3gch-asym") == RTNSpec(3, -1, False)
    assert parse_rtn_tag("rtn-w8") == RTNSpec(8, 128)
    assert RTNSpec(3, -1, False).tag == "rtn-w3gch-asym"
    for bad in ("rtn-w9g64", "gptq-w4", "rtn-w4g"):
        with pytest.raises(QmrError):
            parse_rtn_tag(bad)
    with pytest.raises(QmrError):
        RTNSpec(1)
