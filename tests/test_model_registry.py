import pytest

from qmr_core.errors import QmrError
from qmr_core.model_registry import resolve_model
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
