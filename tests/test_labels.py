import pytest

from tfclf.errors import TfclfError
from tfclf.labels import LabelVocabulary


def test_ids_are_sorted_and_stable():
    a = LabelVocabulary(["joy", "anger", "joy", "fear"])
    b = LabelVocabulary(["fear", "anger", "joy"])
    assert a.names == ("anger", "fear", "joy") == b.names
    assert a.encode(["joy", "anger"]).tolist() == [2, 0]
    assert a.decode([1, 2]) == ["fear", "joy"]


def test_save_load_round_trip(tmp_path):
    vocab = LabelVocabulary(["b", "a", "ç"])
    vocab.save(tmp_path / "labels.txt")
    assert (tmp_path / "labels.txt").read_text(encoding="utf-8") == "a\nb\nç\n"
    assert LabelVocabulary.load(tmp_path / "labels.txt") == vocab


def test_one_class_is_an_error():
    with pytest.raises(TfclfError, match="at least 2 classes"):
        LabelVocabulary(["spam", "spam"])


def test_unknown_label_names_split_and_valid_labels():
    vocab = LabelVocabulary(["a", "b"])
    with pytest.raises(TfclfError) as e:
        vocab.encode(["a", "c"], where="test split")
    assert "test split" in str(e.value) and "'c'" in str(e.value) and "['a', 'b']" in str(e.value)


def test_a_label_with_a_line_break_says_the_column_looks_like_free_text():
    with pytest.raises(TfclfError) as e:
        LabelVocabulary(["a", "first line\nsecond line"])
    message = str(e.value)
    assert "line breaks" in message and "--label-column" in message and "looks like free text" in message
    assert "'first line\\nsecond line'" in message


def test_encode_sets_gives_multi_hot_in_vocabulary_order_and_names_unknown_labels():
    import numpy as np
    import pytest

    from tfclf.errors import TfclfError
    from tfclf.labels import LabelVocabulary

    vocab = LabelVocabulary(["b", "a", "c"])
    y = vocab.encode_sets([("c", "a"), (), ("b",)])
    assert y.dtype == np.float32 and y.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]
    with pytest.raises(TfclfError, match=r"test.csv: label 'z' does not occur in the training data"):
        vocab.encode_sets([("a", "z")], where="test.csv")
