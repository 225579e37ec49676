"""Rows -> examples: text columns, placeholders, --label-map, --where, multi-label, drop counts."""
import pandas as pd
import pytest

from tfclf.config import DataConfig
from tfclf.data import readers
from tfclf.data.columns import check_source_columns, to_examples
from tfclf.data.report import Tally
from tfclf.errors import TfclfError


def examples(tmp_path, content, name="t.csv", **kwargs):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    config = DataConfig(data=str(path), **kwargs)
    [source] = readers.discover(config)
    check_source_columns(source, config)
    tally = Tally()
    frames = [to_examples(c, source, config, tally) for c in readers.iter_chunks(source, config)]
    return pd.concat(frames, ignore_index=True), tally


def test_several_text_columns_are_joined_skipping_blank_parts(tmp_path):
    df, _ = examples(tmp_path, "description,text,gender\nloves cats,hello world,female\n,just text,male\n",
                     text_column="description,text", label_column="gender", text_separator=" | ")
    assert df["text"].tolist() == ["loves cats | hello world", "just text"]


def test_blank_texts_and_labels_are_dropped_and_counted(tmp_path):
    df, tally = examples(tmp_path, "text,label\n  ,a\nfine,\nok,b\n,\n")
    assert df["text"].tolist() == ["ok"]
    assert dict(tally.dropped) == {"blank_label": 2, "blank_text": 1}  # a row blank in both counts once


def test_empty_text_placeholder_keeps_rows(tmp_path):
    df, tally = examples(tmp_path, "text,label\n  ,a\nok,b\n", empty_text="[empty]")
    assert df["text"].tolist() == ["[empty]", "ok"]
    assert tally.cleaned["empty_text"] == 1 and not tally.dropped


def test_label_map_relabels_and_drops(tmp_path):
    df, tally = examples(tmp_path, "text,label\na,unknown\nb,0\nc,1\nd,1\n",
                         label_map="unknown=drop,0=negative,1=positive")
    assert df["label"].tolist() == ["negative", "positive", "positive"]
    assert dict(tally.dropped) == {"label_map": 1}
    assert dict(tally.relabelled) == {"unknown -> drop": 1, "0 -> negative": 1, "1 -> positive": 2}


def test_where_compares_numeric_columns_as_numbers(tmp_path):
    content = "text,label,gender:confidence\na,x,1\nb,y,0.6\nc,x,0.59\nd,y,\n"
    df, tally = examples(tmp_path, content, where="`gender:confidence` >= 0.6")
    assert df["text"].tolist() == ["a", "b"]
    assert dict(tally.dropped) == {"where": 2}


@pytest.mark.parametrize("query, message", [
    ("confidence >= 0.6", r"--where 'confidence >= 0.6' failed on the rows from .*t.csv: line 2.*"
                          r"Columns: \['text', 'label', 'score'\]"),
    ("score", r"must be a condition"),
])
def test_bad_where(tmp_path, query, message):
    with pytest.raises(TfclfError, match=message):
        examples(tmp_path, "text,label,score\na,x,1\n", where=query)


def test_multi_label_with_separator(tmp_path):
    df, tally = examples(tmp_path, "text,tags\na,sports|news\nb,news\nc,\nd,spam| |news\n",
                         label_column="tags", label_separator="|", label_map="spam=drop")
    assert df["label"].tolist() == [("news", "sports"), ("news",), ("news",)]
    assert dict(tally.dropped) == {"blank_label": 1}


def test_multi_label_binary_columns(tmp_path):
    df, _ = examples(tmp_path, "text,toxic,insult\na,1,0\nb,0,0\nc,true,yes\nd,,1\n",
                     label_column="toxic,insult")
    assert df["label"].tolist() == [("toxic",), (), ("insult", "toxic")]


def test_binary_column_with_other_value_names_file_line_and_column(tmp_path):
    with pytest.raises(TfclfError, match=r"t.csv: line 3: column 'insult' holds 'maybe'; a binary label "
                                         r"column must hold one of"):
        examples(tmp_path, "text,toxic,insult\na,1,0\nb,0,maybe\n", label_column="toxic,insult")


def test_group_column_missing_lists_columns(tmp_path):
    with pytest.raises(TfclfError, match=r"--group-column 'user' is not a column. Columns found: "
                                         r"\['text', 'label', 'name'\]"):
        examples(tmp_path, "text,label,name\na,x,u1\n", group_column="user")


def test_group_column_on_class_folders_is_refused(tmp_path):
    (tmp_path / "d" / "pos").mkdir(parents=True)
    (tmp_path / "d" / "pos" / "1.txt").write_text("x")
    (tmp_path / "d" / "neg").mkdir()
    (tmp_path / "d" / "neg" / "1.txt").write_text("y")
    config = DataConfig(data=str(tmp_path / "d"), group_column="user")
    [source] = readers.discover(config)
    with pytest.raises(TfclfError, match=r"--group-column 'user' is not a column of class folders"):
        check_source_columns(source, config)


def test_blank_group_values_group_by_text(tmp_path):
    df, tally = examples(tmp_path, "text,label,name\na,x,u1\nb,y,\n", group_column="name")
    assert df["group"].tolist() == ["u1", "\x00b"] and tally.blank_groups == 1


def test_eval_group_by_gives_each_example_its_group_and_the_split_group(tmp_path):
    df, tally = examples(tmp_path, "text,label,name\na,x,u1\nb,y,\nc,x,u1\n", eval_group_by="name")
    # A blank cell: the row is an evaluation group of its own; for splitting, its text (as --group-column).
    assert df["eval_group"].tolist() == ["u1", "\x01--data\x1f3", "u1"]
    assert df["group"].tolist() == ["u1", "\x00b", "u1"] and tally.blank_groups == 1


def test_eval_group_by_row_groups_the_examples_of_each_row(tmp_path):
    df, _ = examples(tmp_path, "text,label,name\na|||b,x,u1\nc,y,u1\n", explode_text="|||", group_column="name",
                     eval_group_by="row")
    assert df["eval_group"].tolist() == ["\x01--data\x1f2"] * 2 + ["\x01--data\x1f3"]
    assert df["group"].tolist() == ["u1"] * 3  # splits keep --group-column's groups together


def test_eval_group_by_missing_lists_columns(tmp_path):
    with pytest.raises(TfclfError, match=r"--eval-group-by 'user' is not a column. Columns found: "
                                         r"\['text', 'label', 'name'\]\..* Pass --eval-group-by none"):
        examples(tmp_path, "text,label,name\na,x,u1\n", eval_group_by="user")
    with pytest.raises(TfclfError, match=r"t.jsonl: line 1 \(first record\): --eval-group-by 'user' is not a column\. "
                                         r"Columns found: \['text', 'label'\]\. Pass --eval-group-by none to score "
                                         r"the examples only\."):
        examples(tmp_path, '{"text": "a", "label": "x"}\n', name="t.jsonl", eval_group_by="user")
    (tmp_path / "d" / "pos").mkdir(parents=True)
    (tmp_path / "d" / "pos" / "1.txt").write_text("x")
    config = DataConfig(data=str(tmp_path / "d"), eval_group_by="user")
    [source] = readers.discover(config)
    with pytest.raises(TfclfError, match=r"--eval-group-by 'user' is not a column of class folders\. Columns "
                                         r"found: .*\. Pass --eval-group-by none"):
        check_source_columns(source, config)


# --------------------------------------------------------------------------- label checks

def test_missing_labels_are_dropped_under_their_own_reason(tmp_path):
    df, tally = examples(tmp_path, "text,label\na,NaN\nb,null\nc, None \nd,\ne,x\nf,nan\ng,y\n")
    assert df["label"].tolist() == ["x", "y"]
    assert dict(tally.dropped) == {"missing_label": 4, "blank_label": 1}


def test_a_missing_marker_can_be_kept_as_a_class_with_label_map(tmp_path):
    df, tally = examples(tmp_path, "text,label\na,None\nb,x\n", label_map="None=no_topic")
    assert df["label"].tolist() == ["no_topic", "x"] and not tally.dropped


def test_jsonl_null_and_nan_labels_are_missing(tmp_path):
    df, tally = examples(tmp_path, '{"text": "a", "label": null}\n{"text": "b", "label": NaN}\n'
                                   '{"text": "c", "label": "x"}\n{"text": "d", "label": ""}\n', name="d.jsonl")
    assert df["label"].tolist() == ["x"]
    assert dict(tally.dropped) == {"missing_label": 2, "blank_label": 1}


def test_numeric_labels_have_one_spelling(tmp_path):
    df, tally = examples(tmp_path, "text,label\na,1\nb,1.0\nc,01\nd,2\ne,0.50\nf,+2.00\n")
    assert df["label"].tolist() == ["1", "1", "1", "2", "0.5", "2"]
    assert dict(tally.normalised) == {"1.0 -> 1": 1, "01 -> 1": 1, "0.50 -> 0.5": 1, "+2.00 -> 2": 1}
    js, _ = examples(tmp_path, '{"text": "a", "label": 1}\n{"text": "b", "label": 1.0}\n', name="d.jsonl")
    assert js["label"].tolist() == ["1", "1"]


def test_label_map_sees_the_label_as_written_first(tmp_path):
    df, tally = examples(tmp_path, "text,label\na,1.0\nb,1\n", label_map="1.0=positive")
    assert df["label"].tolist() == ["positive", "1"] and dict(tally.relabelled) == {"1.0 -> positive": 1}


def test_a_label_with_a_line_break_names_flag_file_and_line(tmp_path):
    content = 'id,text,gender\n1,hello,female\n2,"two\nlines",male\n'
    with pytest.raises(TfclfError) as e:
        examples(tmp_path, content, label_column="text", text_column="gender")
    message = str(e.value)
    assert "t.csv: line 3: --label-column 'text': label 'two\\nlines' contains a line break" in message
    assert "looks like free text" in message


def test_dict_labels_are_always_an_error(tmp_path):
    with pytest.raises(TfclfError, match=r"d.jsonl: line 1: --label-column 'label' holds a dict.*A dict is never"):
        examples(tmp_path, '{"text": "a", "label": {"k": 1}}\n', name="d.jsonl", label_separator="|")
    df, _ = examples(tmp_path, '{"text": "a", "label": ["x", "y"]}\n{"text": "b", "label": "x|z"}\n',
                     name="e.jsonl", label_separator="|")
    assert df["label"].tolist() == [("x", "y"), ("x", "z")]


# ------------------------------------------------------------ several examples per row

TWEETS = ("description,text,gender\n"
          "loves cats,hello world,female\n"
          ",just text,male\n"
          " ,  ,male\n")


def frame_of(df):
    return {c: df[c].tolist() for c in df.columns}


def test_stacked_text_columns_are_examples_of_their_row(tmp_path):
    df, tally = examples(tmp_path, TWEETS, text_column="description,text", label_column="gender",
                         stack_text_columns=True)
    assert frame_of(df) == {
        "text": ["loves cats", "hello world", "just text"],
        "label": ["female", "female", "male"],
        "group": ["\x01--data\x1f2", "\x01--data\x1f2", "\x01--data\x1f3"],  # the row is the group
        "line": [2, 2, 3]}
    assert dict(tally.dropped) == {"blank_text": 3}  # blank cells, not rows
    assert tally.rows_to_examples(stacked=("description", "text"), exploded=False) == {
        "rows": 3, "examples": 3, "examples_per_column": {"description": 1, "text": 2}}


def test_stacked_blank_cells_take_the_empty_text_placeholder(tmp_path):
    df, tally = examples(tmp_path, TWEETS, text_column="description,text", label_column="gender",
                         stack_text_columns=True, empty_text="[no description]")
    assert df["text"].tolist() == ["loves cats", "hello world", "[no description]", "just text",
                                   "[no description]", "[no description]"]
    assert df["line"].tolist() == [2, 2, 3, 3, 4, 4] and not tally.dropped
    assert tally.cleaned["empty_text"] == 3
    assert dict(tally.examples_per_column) == {"description": 3, "text": 3}


def test_stacked_examples_keep_the_group_column_and_a_blank_group_is_the_row(tmp_path):
    content = "description,text,gender,name\nbio,tweet,female,ann\nbio2,tweet2,male, \n"
    df, tally = examples(tmp_path, content, text_column="description,text", label_column="gender",
                         group_column="name", stack_text_columns=True)
    assert df["group"].tolist() == ["ann", "ann", "\x01--data\x1f3", "\x01--data\x1f3"]
    assert tally.blank_groups == 1  # rows, not examples


def test_explode_splits_texts_into_parts_cleaned_one_by_one(tmp_path):
    content = ("text,type\n"
               '"Hi THERE|||  |||see http://x.io|||",INTJ\n'
               "one post only,ENFP\n"
               "|||,ISTP\n"
               "http://only.a/url|||fine,ESTJ\n")
    df, tally = examples(tmp_path, content, label_column="type", explode_text="|||", lowercase=True,
                         strip_urls=True, normalize_whitespace=True)
    assert frame_of(df) == {
        "text": ["hi there", "see", "one post only", "fine"],
        "label": ["INTJ", "INTJ", "ENFP", "ESTJ"],
        "group": ["\x01--data\x1f2", "\x01--data\x1f2", "\x01--data\x1f3", "\x01--data\x1f5"],
        "line": [2, 2, 3, 5]}
    # Line 4 holds only separators: a blank text. Line 5's URL-only part is emptied by cleaning.
    assert dict(tally.dropped) == {"blank_text": 2}
    assert tally.rows_to_examples(exploded=True) == {
        "rows": 4, "examples": 4, "rows_exploded": 2, "blank_parts": 2}


def test_max_examples_per_row_keeps_the_first_parts_and_counts_the_rest(tmp_path):
    content = "text,label\na|||b|||c|||d,x\n|||e|||,y\nf,x\n"
    df, tally = examples(tmp_path, content, explode_text="|||", max_examples_per_row=2)
    assert df["text"].tolist() == ["a", "b", "e", "f"] and df["line"].tolist() == [2, 2, 3, 4]
    assert dict(tally.dropped) == {"max_examples_per_row": 2}
    assert tally.examples_made == 4


def test_max_examples_per_row_counts_examples_left_after_blank_drops(tmp_path):
    df, tally = examples(tmp_path, "text,label\nhttp://a.b|||one|||two|||three,x\n", explode_text="|||",
                         strip_urls=True, max_examples_per_row=2)
    assert df["text"].tolist() == ["one", "two"]
    assert dict(tally.dropped) == {"blank_text": 1, "max_examples_per_row": 1}


def test_stack_then_explode(tmp_path):
    content = "description,text,gender\nbio|||more bio,t1|||t2|||t3,female\n,t4,male\n"
    df, tally = examples(tmp_path, content, text_column="description,text", label_column="gender",
                         stack_text_columns=True, explode_text="|||", max_examples_per_row=4,
                         empty_text="[none]")
    assert df["text"].tolist() == ["bio", "more bio", "t1", "t2", "[none]", "t4"]
    assert df["line"].tolist() == [2, 2, 2, 2, 3, 3]
    assert dict(tally.dropped) == {"max_examples_per_row": 1}
    assert tally.rows_to_examples(stacked=("description", "text"), exploded=True) == {
        "rows": 2, "examples": 6, "examples_per_column": {"description": 3, "text": 3},
        "rows_exploded": 1, "blank_parts": 0}


def test_joined_columns_are_exploded_after_joining(tmp_path):
    df, _ = examples(tmp_path, "description,text,gender\nbio,t1|||t2,female\n",
                     text_column="description,text", label_column="gender", explode_text="|||")
    assert df["text"].tolist() == ["bio t1", "t2"]


def test_exploded_examples_carry_the_row_label_set(tmp_path):
    content = "text,type\np1|||p2,INTJ\np3,ESFP\n"
    df, _ = examples(tmp_path, content, label_column="type", label_axes="I/E,N/S,T/F,J/P",
                     explode_text="|||")
    assert df["label"].tolist() == [("I", "J", "N", "T"), ("I", "J", "N", "T"), ()]
    df, _ = examples(tmp_path, '{"a": "x", "b": "y|||z", "tags": ["t", "u"]}\n', name="d.jsonl",
                     text_column="a,b", label_column="tags", stack_text_columns=True, explode_text="|||")
    assert frame_of(df) == {"text": ["x", "y", "z"], "label": [("t", "u")] * 3,
                            "group": ["\x01--data\x1f1"] * 3, "line": [1, 1, 1]}


def test_rows_dropped_for_their_label_give_no_examples(tmp_path):
    df, tally = examples(tmp_path, "text,label\na|||b,\nc|||d,unknown\ne|||f,x\n", explode_text="|||",
                         label_map="unknown=drop")
    assert df["text"].tolist() == ["e", "f"]
    assert dict(tally.dropped) == {"blank_label": 1, "label_map": 1} and tally.rows_expanded == 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(stack_text_columns=True), r"--stack-text-columns makes each --text-column a separate example and "
                                    r"needs at least two, e.g. --text-column description,text. "
                                    r"Received: text_column=\['text'\]"),
    (dict(explode_text=""), r"--explode-text must be a non-empty separator, e.g. '\|\|\|'. Received: explode_text=''"),
    (dict(explode_text="|||", max_examples_per_row=0),
     r"--max-examples-per-row must be >= 1. Received: max_examples_per_row=0"),
    (dict(max_examples_per_row=5), r"--max-examples-per-row caps the parts of --explode-text and needs it.*"
                                   r"Received: max_examples_per_row=5, explode_text=None"),
])
def test_several_examples_per_row_flags_are_validated(kwargs, message):
    # DataConfig's own checks, kept next to the behaviour they guard.
    with pytest.raises(TfclfError, match=message):
        DataConfig(**kwargs)
