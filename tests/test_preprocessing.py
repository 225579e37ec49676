import pytest
import tensorflow as tf

from tfclf.errors import TfclfError
from tfclf.preprocessing import TextPreprocessor


def test_packs_to_the_requested_length(tiny_bert):
    pre = TextPreprocessor(str(tiny_bert.preprocessor), seq_length=12)
    out = pre(tf.constant(["please refund my order", "hi"]))
    assert sorted(out) == ["input_mask", "input_type_ids", "input_word_ids"]
    assert out["input_word_ids"].shape == (2, 12) and out["input_word_ids"].dtype == tf.int32
    assert out["input_mask"].numpy().sum(axis=1).tolist() == [6, 3]  # [CLS] words [SEP]


def test_truncates_long_text_and_reports_true_length(tiny_bert):
    pre = TextPreprocessor(str(tiny_bert.preprocessor), seq_length=8)
    text = tf.constant([" ".join(["order"] * 20)])
    assert pre(text)["input_mask"].numpy().sum() == 8
    assert pre.token_lengths(text).numpy().tolist() == [22]


def test_encoder_folder_is_not_a_preprocessor(tiny_bert):
    with pytest.raises(TfclfError, match="bert_pack_inputs|tokenize"):
        TextPreprocessor(str(tiny_bert.encoder), seq_length=8)
