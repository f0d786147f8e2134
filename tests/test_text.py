from hypothesis import given, settings, strategies as st

from mapper.text import MAX_SENTENCE_CHARS, split_sentences


def _texts(text):
    return [s.text for s in split_sentences(text)]


def test_plain_sentences():
    assert _texts("First one. Second one! Third?") == ["First one.", "Second one!", "Third?"]


def test_abbreviations_do_not_split():
    assert _texts("Attackers used tools, e.g. scanners. Then they left.") == [
        "Attackers used tools, e.g. scanners.", "Then they left."]


def test_bullets_and_numbered_lists():
    text = "Steps:\n- collected data\n- trained a proxy\n1. crafted inputs\n2) evaded it"
    assert _texts(text) == ["Steps:", "collected data", "trained a proxy", "crafted inputs", "evaded it"]


def test_paragraphs_and_html_blocks():
    text = "<p>One thing happened</p><p>Another</p>\n\nThird<br>Fourth"
    assert _texts(text) == ["One thing happened", "Another", "Third", "Fourth"]


def test_wrapped_lines_stay_together():
    assert _texts("The model was\nqueried many times. Done.") == ["The model was\nqueried many times.", "Done."]


def test_run_on_text_is_windowed():
    text = "word " * 1000
    pieces = split_sentences(text)
    assert len(pieces) > 5 and all(len(p.text) <= MAX_SENTENCE_CHARS for p in pieces)


def test_no_whitespace_at_all_is_cut():
    pieces = split_sentences("x" * 1000)
    assert [len(p.text) for p in pieces] == [400, 400, 200]


def test_punctuation_only_gives_nothing():
    assert split_sentences("  ... !!! --- ") == []
    assert split_sentences("") == []


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=600))
def test_offsets_always_point_at_their_text(text):
    previous_end = 0
    for s in split_sentences(text):
        assert text[s.start:s.end] == s.text
        assert s.start >= previous_end and s.end > s.start
        assert len(s.text) <= MAX_SENTENCE_CHARS
        previous_end = s.end
