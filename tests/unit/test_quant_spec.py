import pytest

from qmr_core.errors import QmrError
from qmr_core.quant.calibration import text_windows
from qmr_core.quant.spec import QuantSpec, default_spec


def test_defaults_and_tags():
    assert QuantSpec("gptq", 4, 64).tag == "gptq-w4g64"
    awq = QuantSpec("awq", 4, 128)
    assert awq.is_symmetric is False and awq.tag == "awq-w4g128"
    assert QuantSpec("awq", 4, 128, symmetric=True).tag == "awq-w4g128-sym"
    assert QuantSpec("rtn", 3, -1, symmetric=False).tag == "rtn-w3gch-asym"
    sq = default_spec("smoothquant", 8)
    assert (sq.act_bits, sq.group_size, sq.tag) == (8, -1, "smoothquant-w8a8gch")
    assert not QuantSpec("rtn", 4).needs_calibration and QuantSpec("gptq", 4).needs_calibration


def test_json_round_trip_keeps_every_field():
    spec = QuantSpec("gptq", 3, 32, act_order=True, calib="text:/x.txt", n_samples=7, seq_len=99, seed=5, backend="gptqmodel")
    again = QuantSpec.from_dict(spec.as_dict())
    assert again.as_dict() == spec.as_dict()
    assert '"act_order": true' in spec.to_json()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(method="smoothquant", bits=2, act_bits=8), "smoothquant is W8A8"),
        (dict(method="smoothquant", bits=8), "smoothquant is W8A8"),
        (dict(method="smoothquant", bits=8, act_bits=8, backend="gptqmodel"), "gptqmodel does not do smoothquant"),
        (dict(method="gptq", bits=5, backend="gptqmodel"), "gptqmodel writes 2, 3, 4, 8-bit"),
        (dict(method="awq", bits=3, backend="gptqmodel"), "4-bit only"),
        (dict(method="gptq", bits=4, act_bits=8, backend="gptqmodel"), "weights only"),
        (dict(method="awq", bits=4, act_order=True), "--act-order applies to gptq only"),
        (dict(method="gptq", bits=9), "--bits must be 2..8"),
        (dict(method="gptq", bits=4, group_size=-5), "--group-size"),
        (dict(method="gptq", bits=4, calib="wiki"), "--calib must be"),
        (dict(method="squeeze", bits=4), "unknown method"),
        (dict(method="gptq", bits=4, backend="autogptq"), "unknown backend"),
    ],
)
def test_unsupported_combinations_fail_with_one_clear_line(kwargs, message):
    with pytest.raises(QmrError, match=message) as info:
        QuantSpec(**kwargs)
    assert "\n" not in str(info.value)


def test_text_windows_cover_short_texts_with_overlap_and_long_ones_evenly():
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 30 for i in range(40))
    few = text_windows(text, 4, approx_chars=200)
    assert len(few) == 4 and len(set(few)) == 4 and all(len(w) <= 200 for w in few)
    many = text_windows("One. Two. Three.", 5, approx_chars=50)
    assert len(many) == 5 and many[0].startswith("One")
    assert text_windows("   ", 3, 100) == []
