import pytest

from qmr_core.errors import QmrError
from qmr_core.models.registry import resolve_model
from tests.conftest import needs_smollm2


@needs_smollm2
def test_alias_resolves_to_packaged_gguf():
    ref = resolve_model("smollm2-135m")
    assert ref.kind == "gguf" and ref.source.endswith(".gguf") and ref.model_id == "smollm2-135m"
    q = resolve_model("smollm2-135m@rtn-w3g64")
    assert q.model_id == "smollm2-135m@rtn-w3g64" and q.base_model_id == "smollm2-135m"
    assert q.rtn.bits == 3 and q.rtn.group_size == 64


def test_checkpoint_folder_and_errors(tiny_model, tmp_path):
    ref = resolve_model(str(tiny_model))
    assert ref.kind == "checkpoint" and ref.model_id.startswith(tiny_model.name)
    assert resolve_model(str(tiny_model)).model_id == ref.model_id  # stable
    with pytest.raises(QmrError, match="does not exist"):
        resolve_model("./no/such/model")
    with pytest.raises(QmrError, match="unknown model"):
        resolve_model("not a model")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(QmrError, match="not a .gguf"):
        resolve_model(str(tmp_path / "notes.txt"))
    with pytest.raises(QmrError, match="no config.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(QmrError, match="bad quantization suffix"):
        resolve_model(f"{tiny_model}@gptq")
    assert resolve_model("org/some-model").kind == "hub"


def test_float_copy_of_a_bundled_model_is_its_alias(tmp_path):
    """Other tools that ran on qmr's float copy of the bundled GGUF name it by its cache folder: same model, same id."""
    from conftest import HAS_SMOLLM2
    from qmr_core.models.registry import ALIASES, _alias_path, alias_of_float_copy

    suffix = ALIASES["smollm2-135m"].suffix
    size = _alias_path("smollm2-135m").stat().st_size if HAS_SMOLLM2 else 98362432
    # made on another machine: recognized by the folder name (file name and size)
    assert alias_of_float_copy(f"/elsewhere/.cache/qmr/gguf/{suffix}-{size}-1795784293-tf5.17.0") == "smollm2-135m"
    if HAS_SMOLLM2:  # with the package here, the size must match too
        assert alias_of_float_copy(f"/x/{suffix}-{size + 1}-1795784293-tf5.17.0") is None
    # made here: its qmr_source.json names the GGUF
    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / "qmr_source.json").write_text('{"gguf": "/somewhere/%s"}' % suffix)
    assert alias_of_float_copy(str(folder)) == "smollm2-135m"
    assert alias_of_float_copy(str(tmp_path)) is None
    assert alias_of_float_copy("HuggingFaceTB/SmolLM2-135M-Instruct") is None
