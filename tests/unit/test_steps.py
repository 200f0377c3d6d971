from qmr_core.benchmarks.steps import split_steps


def _check_spans(text, split):
    for s in split.steps:
        assert text[s.start : s.end] == s.text


def test_tagged_steps_with_preamble_and_markdown():
    text = "Let's solve it.\nStep 1: 12 * 7 = 84.\n**Step 2:** Add 1.\n  Step 3) So \\boxed{85}."
    split = split_steps(text)
    assert split.method == "tagged" and split.follows_format
    assert [s.text.split()[0] for s in split.steps] == ["Let's", "Step", "**Step", "Step"]
    assert [s.idx for s in split.steps] == [0, 1, 2, 3]
    _check_spans(text, split)


def test_paragraphs_then_sentences():
    text = "First we add.\n\nThen we multiply: 3 * 4 = 12.\n\n\nThe answer is 12."
    split = split_steps(text)
    assert split.method == "paragraph" and len(split.steps) == 3 and not split.follows_format
    _check_spans(text, split)
    text2 = "We have 3.5 apples. Then we double it! The answer is $7$."
    split2 = split_steps(text2)
    assert split2.method == "sentence"
    assert [s.text for s in split2.steps] == ["We have 3.5 apples.", "Then we double it!", "The answer is $7$."]
    _check_spans(text2, split2)


def test_empty_and_degenerate():
    assert split_steps("").method == "empty"
    assert split_steps("   \n").steps == []
    text = "Step 1: a\n" * 1000
    assert len(split_steps(text).steps) <= 400
