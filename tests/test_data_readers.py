"""Formats and layouts: each reader on small generated files that reproduce the real quirks."""
import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from tfclf import data
from tfclf.config import DataConfig, DataFormat
from tfclf.data import readers
from tfclf.errors import TfclfError


def write(path, content, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
    return path


def read(path, **kwargs):
    return data.read_examples(str(path), DataConfig(**kwargs))


# ----------------------------------------------------------------------------- delimited

def test_semicolon_file_splits_on_last_delimiter(tmp_path):
    f = write(tmp_path / "emo.txt", "i feel good; really;joy\ni am sad;sadness\n")
    df = read(f)
    assert df["text"].tolist() == ["i feel good; really", "i am sad"]
    assert df["label"].tolist() == ["joy", "sadness"]


def test_csv_with_header_quotes_and_newlines(tmp_path):
    f = write(tmp_path / "t.csv", 'id,text,label\r\n1,"hello, ""world""\nline two",pos\r\n2,bye,neg\r\n')
    df = read(f)
    assert df["text"].tolist() == ['hello, "world"\nline two', "bye"]
    assert df["label"].tolist() == ["pos", "neg"]


def test_latin1_cr_line_ends_and_quoted_line_breaks_like_twitter_gender(tmp_path):
    # The Twitter gender CSV: latin-1, rows end with CR, LF only inside quoted fields.
    content = ('"_unit_id","gender","text","name"\r1,"female","caf\xe9 time","ann"\r'
               '2,"male","two\nlines","bob"\r3,"brand","x","shop"\r').encode("latin-1")
    f = write(tmp_path / "gender.csv", content)
    with pytest.raises(TfclfError, match=r"line 2, byte offset 49: cannot decode byte 0xe9 as utf-8"):
        read(f, label_column="gender")
    df = read(f, label_column="gender", encoding="latin-1")
    assert df["text"].tolist() == ["café time", "two\nlines", "x"]
    assert df["label"].tolist() == ["female", "male", "brand"]


def test_custom_columns_and_tsv(tmp_path):
    f = write(tmp_path / "t.tsv", "body\tqueue\nhi there\tsales\nhelp me\tsupport\n")
    df = read(f, text_column="body", label_column="queue")
    assert df.to_dict("list") == {"text": ["hi there", "help me"], "label": ["sales", "support"]}


def test_headerless_two_column_csv(tmp_path):
    # 'pos' repeats in its column below, so line 1 is data (a header name would not repeat).
    f = write(tmp_path / "t.csv", "great movie,pos\nawful,neg\nloved it,pos\n")
    assert read(f)["label"].tolist() == ["pos", "neg", "pos"]


def test_explicit_no_header_and_delimiter_override(tmp_path):
    f = write(tmp_path / "t.dat", "text|label\nabc|x\n")
    df = read(f, header=False, delimiter="|")
    assert df["text"].tolist() == ["text", "abc"]


def test_unknown_extension_is_sniffed(tmp_path):
    f = write(tmp_path / "t.data", "text|label\nhello there|a\nbye now|b\n")
    assert read(f)["label"].tolist() == ["a", "b"]


def test_skip_rows_and_utf8_bom(tmp_path):
    f = write(tmp_path / "t.csv", "\ufeffexported by tool\ntext,label\nhi,a\n")
    assert read(f, skip_rows=1)["text"].tolist() == ["hi"]


def test_missing_column_lists_columns(tmp_path):
    f = write(tmp_path / "t.csv", "body,queue\nhi,a\n")
    with pytest.raises(TfclfError) as e:
        read(f, text_column="message", label_column="queue")
    assert "'message'" in str(e.value) and "['body', 'queue']" in str(e.value)
    assert "t.csv: line 1 (header)" in str(e.value)


def test_header_with_wrong_delimiter_suggests_the_right_one(tmp_path):
    f = write(tmp_path / "t.csv", "text;label\nhi;a\n")
    with pytest.raises(TfclfError, match=r"line 1: delimiter ',' not found.*pass --delimiter ';'"):
        read(f)
    g = write(tmp_path / "g.csv", "id;text;label\n1;hi;a\n")
    with pytest.raises(TfclfError, match=r"--text-column 'text' is not a column.*pass --delimiter ';'"):
        read(g, text_column="text", label_column="label", header=True)


def test_undecodable_bytes_name_line_and_offset(tmp_path):
    f = write(tmp_path / "t.csv", b"text,label\nok,a\ncaf\xe9,b\n")
    with pytest.raises(TfclfError) as e:
        read(f)
    msg = str(e.value)
    assert "line 3" in msg and "byte offset 19" in msg and "--encoding latin-1" in msg
    assert read(f, encoding="latin-1")["text"].tolist() == ["ok", "café"]


def test_undecodable_byte_far_into_a_large_file(tmp_path):
    body = "".join(f"row {i},a\n" for i in range(120_000))  # > 1 MiB: crosses read blocks
    f = write(tmp_path / "t.csv", ("text,label\n" + body).encode() + b"bad \xff,b\n")
    with pytest.raises(TfclfError, match=rf"line 120002, byte offset {11 + len(body) + 4}:"):
        read(f)


def test_ragged_row_names_line(tmp_path):
    f = write(tmp_path / "t.csv", "text,label\na,b\nc,d,e\n")
    with pytest.raises(TfclfError, match=r"line 3: expected 2 fields.*found 3"):
        read(f)


def test_delimiter_not_found_names_line(tmp_path):
    f = write(tmp_path / "t.txt", "a;x\nno delimiter here\n")
    with pytest.raises(TfclfError, match=r"line 2: delimiter ';' not found"):
        read(f)


def test_malformed_quotes_name_line(tmp_path):
    f = write(tmp_path / "t.csv", 'text,label\nok,a\n"bad" quote,b\n')
    with pytest.raises(TfclfError, match=r"t.csv: line 3: malformed ','-delimited row"):
        read(f)


def test_git_conflict_marker_is_named_and_skip_rows_reads_past_it(tmp_path):
    f = write(tmp_path / "mbti.csv", '<<<<<<< HEAD\ntype,posts\nINFJ,"a|||b"\nENTP,"c"\n')
    with pytest.raises(TfclfError, match=r"mbti.csv: line 1: git merge-conflict marker '<<<<<<< HEAD'.*"
                                         r"--skip-rows 1"):
        read(f, text_column="posts", label_column="type")
    df = read(f, text_column="posts", label_column="type", skip_rows=1)
    assert df["label"].tolist() == ["INFJ", "ENTP"]


@pytest.mark.parametrize("content, message", [(b"", "is empty"), (b"  \n\n", "is empty")])
def test_empty_file(tmp_path, content, message):
    f = write(tmp_path / "t.csv", content)
    with pytest.raises(TfclfError, match=message):
        read(f)


def test_missing_file(tmp_path):
    with pytest.raises(TfclfError, match=r"--train: no such file"):
        data.read_examples(str(tmp_path / "nope.csv"), DataConfig(), role="--train")


# -------------------------------------------------------------------------- other formats

def test_parallel_text_and_label_files(tmp_path):
    write(tmp_path / "train_text.txt", "good one\nbad one\r\nmeh")  # no final newline, like UMSAB
    write(tmp_path / "train_labels.txt", "2\n0\n1")
    df = read(tmp_path / "train_text.txt")
    assert df.to_dict("list") == {"text": ["good one", "bad one", "meh"], "label": ["2", "0", "1"]}


@pytest.mark.parametrize("labels, message", [
    ("1\n0\n", r"train_labels.txt: has 2 lines but train_text.txt has more.*text line 3 has no label"),
    ("1\n0\n1\n1\n", r"train_text.txt: has 3 lines but train_labels.txt has more.*label line 4"),
])
def test_parallel_line_count_mismatch(tmp_path, labels, message):
    write(tmp_path / "train_text.txt", "a\nb\nc\n")
    write(tmp_path / "train_labels.txt", labels)
    with pytest.raises(TfclfError, match=message):
        read(tmp_path / "train_text.txt")


def test_jsonl_and_parquet(tmp_path):
    rows = [{"text": "hello", "label": "a", "score": 0.9}, {"text": "bye", "label": "b", "score": 0.1}]
    f = write(tmp_path / "d.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert read(f).to_dict("list") == {"text": ["hello", "bye"], "label": ["a", "b"]}
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    assert read(tmp_path / "d.parquet", where="score > 0.5").to_dict("list") == {"text": ["hello"], "label": ["a"]}


@pytest.mark.parametrize("content, message", [
    ('{"text": "a", "label": "x"}\n{"text": oops}\n', r"d.jsonl: line 2: not valid JSON"),
    ('["a", "x"]\n', r"d.jsonl: line 1: expected a JSON object"),
])
def test_bad_jsonl(tmp_path, content, message):
    f = write(tmp_path / "d.jsonl", content)
    with pytest.raises(TfclfError, match=message):
        read(f)


def test_not_a_parquet_file(tmp_path):
    f = write(tmp_path / "d.parquet", "text,label\na,b\n")
    with pytest.raises(TfclfError, match=r"is not a readable Parquet file"):
        read(f)


# ------------------------------------------------------------------------------- layouts

def imdb_tree(root, n_train=6, n_test=2):
    for split, n in (("train", n_train), ("test", n_test)):
        for label in ("neg", "pos"):
            for i in range(n):
                write(root / split / label / f"{i}_1.txt", f"{label} {split} review {i} <br />")
    write(root / "train" / "urls_pos.txt", "http://x")
    write(root / "train" / "labeledBow.feat", "0:1")
    write(root / "train" / "unsup" / "0_0.txt", "unlabelled")
    write(root / "README", "readme")
    write(root / "imdbEr.txt", "0.1")


def test_class_folder_tree_any_depth_ignores_non_label_entries(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    imdb_tree(tmp_path / "x" / "aclImdb")
    sources = readers.discover(DataConfig(data=str(tmp_path / "x")))
    assert [(s.split, len(s.files)) for s in sources] == [("train", 12), ("test", 4)]
    assert {label for _, label in sources[0].files} == {"neg", "pos"}
    log = caplog.text
    for ignored in ("README", "imdbEr.txt", "urls_pos.txt", "labeledBow.feat", "unsup/"):
        assert ignored in log


def test_class_folders_without_splits(tmp_path):
    for label in ("a", "b"):
        write(tmp_path / label / "1.txt", f"text {label}")
    [source] = readers.discover(DataConfig(data=str(tmp_path)))
    assert source.split is None and [l for _, l in source.files] == ["a", "b"]


def test_directory_without_label_folders(tmp_path):
    write(tmp_path / "readme.txt", "hello")
    with pytest.raises(TfclfError, match="no label folders"):
        read(tmp_path)


def test_mixed_split_and_label_folders(tmp_path):
    write(tmp_path / "train" / "pos" / "1.txt", "x")
    write(tmp_path / "neg" / "1.txt", "y")
    with pytest.raises(TfclfError, match=r"mixes split folders \['train'\] with label folders"):
        readers.discover(DataConfig(data=str(tmp_path)))


def test_split_files_folder(tmp_path):
    for name in ("train.txt", "val.txt", "test.txt"):
        write(tmp_path / name, "a b;x\nc d;y\ne f;x\n")  # 'x' repeats: line 1 is data
    write(tmp_path / "SOURCES.md", "# notes")
    write(tmp_path / "hf_variant" / "train.txt", "ignored;z\n")
    sources = readers.discover(DataConfig(data=str(tmp_path)))
    assert [(s.split, s.path.name, s.format) for s in sources] == [
        ("train", "train.txt", DataFormat.DELIMITED), ("validation", "val.txt", DataFormat.DELIMITED),
        ("test", "test.txt", DataFormat.DELIMITED)]


def test_parallel_split_folder(tmp_path):
    for split in ("train", "val", "test"):
        write(tmp_path / f"{split}_text.txt", "a\nb\n")
        write(tmp_path / f"{split}_labels.txt", "0\n1\n")
    sources = readers.discover(DataConfig(data=str(tmp_path)))
    assert [(s.split, s.format, s.labels_path.name) for s in sources] == [
        ("train", DataFormat.PARALLEL, "train_labels.txt"),
        ("validation", DataFormat.PARALLEL, "val_labels.txt"),
        ("test", DataFormat.PARALLEL, "test_labels.txt")]


def test_two_train_files_are_ambiguous(tmp_path):
    write(tmp_path / "train.csv", "text,label\na,b\n")
    write(tmp_path / "train.jsonl", '{"text": "a", "label": "b"}\n')
    with pytest.raises(TfclfError, match=r"several train files \['train.csv', 'train.jsonl'\]"):
        readers.discover(DataConfig(data=str(tmp_path)))


def test_split_folders_without_train(tmp_path):
    write(tmp_path / "test" / "pos" / "1.txt", "x")
    with pytest.raises(TfclfError, match=r"no train/ folder"):
        readers.discover(DataConfig(data=str(tmp_path)))


def test_chunks_are_bounded(tmp_path):
    f = write(tmp_path / "t.csv", "text,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(250)))
    [source] = readers.discover(DataConfig(data=str(f)))
    sizes = [len(c.frame) for c in readers.iter_chunks(source, DataConfig(data=str(f)), chunk_rows=100)]
    assert sizes == [100, 100, 50]


# ------------------------------------------------------------------ header rule and columns

@pytest.mark.parametrize("content, name, missing, found", [
    ("text,category\nhello there,a\nbye now,b\n", "t.csv", "--label-column 'label'", "['text', 'category']"),
    ("body,label\nhello there,a\nbye now,b\n", "t.csv", "--text-column 'text'", "['body', 'label']"),
    ("text;label_name\ni didnt feel humiliated;sadness\ni feel grouchy;anger\n", "t.txt",
     "--label-column 'label'", "['text', 'label_name']"),
])
def test_a_header_that_lacks_the_columns_is_an_error_not_a_class(tmp_path, content, name, missing, found):
    f = write(tmp_path / name, content)
    with pytest.raises(TfclfError) as e:
        read(f)
    message = str(e.value)
    assert f"{name}: line 1 (header): {missing} is not a column" in message
    assert f"Columns found: {found}" in message
    assert "--text-column/--label-column" in message and "--no-header" in message


def test_the_bundled_emotion_variant_with_a_header_is_refused_and_the_plain_one_reads(tmp_path):
    root = Path("/work/shared/datasets/emotion")
    if not root.is_dir():
        pytest.skip("shared datasets not available")
    with pytest.raises(TfclfError, match=r"hf_dropbox_variant/test.txt: line 1 \(header\).*"
                                         r"Columns found: \['text', 'label_name'\]"):
        readers.discover(DataConfig(data=str(root / "hf_dropbox_variant")))
    sources = readers.discover(DataConfig(data=str(root)))
    assert [(s.split, s.has_header, s.join_text) for s in sources] == [
        ("train", False, True), ("validation", False, True), ("test", False, True)]
    ok = readers.discover(DataConfig(data=str(root / "hf_dropbox_variant"), label_column="label_name"))
    assert all(s.has_header for s in ok)


@pytest.mark.parametrize("content", [
    "i didnt feel humiliated;sadness\nhello;joy\n",      # a sentence is data
    "good;joy\nbad;sadness\nfine;joy\n",                # 'joy' repeats in its column: data
    "i feel; fine;joy\nmy package is late;sadness\n",   # 3 fields over rows of 2: text with a ';'
    "hello;1\nbye;0\n",                                 # a number is not a name
])
def test_headerless_two_column_rows_are_still_data(tmp_path, content):
    f = write(tmp_path / "t.txt", content)
    df = read(f)
    assert len(df) == content.count("\n") and df["text"].iloc[0] == content.split("\n")[0].rsplit(";", 1)[0]


def test_headerless_wide_file_without_a_column_choice_lists_the_fields(tmp_path):
    f = write(tmp_path / "cola.tsv", "gj04\t1\t\tour friends won't buy this analysis\n"
                                     "gj04\t0\t*\tone more pseudo generalization\n")
    with pytest.raises(TfclfError) as e:
        read(f)
    message = str(e.value)
    assert "cola.tsv: line 1: a headerless row of 4 fields" in message
    assert "[0: 'gj04', 1: '1', 2: '', 3: \"our friends won't buy this analysis\"]" in message
    assert "--no-header --text-column 3 --label-column 0" in message and "--column-names" in message


def test_headerless_wide_file_by_index_and_by_names(tmp_path):
    content = ("gj04\tyes\t\tour friends won't buy this analysis\tu1\n"
               "gj04\tno\t*\tone more pseudo generalization\tu2\n")
    f = write(tmp_path / "cola.tsv", content)
    df = data.read_examples(str(f), DataConfig(header=False, text_column="3", label_column="1",
                                               group_column="4"))
    assert df.to_dict("list") == {"text": ["our friends won't buy this analysis", "one more pseudo generalization"],
                                  "label": ["yes", "no"], "group": ["u1", "u2"]}
    named = data.read_examples(str(f), DataConfig(column_names="source,label,mark,sentence,user",
                                                  text_column="sentence"))
    assert named["label"].tolist() == ["yes", "no"] and named["text"].tolist() == df["text"].tolist()
    with pytest.raises(TfclfError, match=r"cola.tsv: line 1: --text-column 7 is out of range: headerless "
                                         r"rows have 5 fields"):
        data.read_examples(str(f), DataConfig(header=False, text_column="7", label_column="1"))
    with pytest.raises(TfclfError, match=r"cola.tsv: --column-names: --text-column 'text' is not a column. "
                                         r"Columns found: \['source', 'label', 'mark', 'sentence', 'user'\]"):
        data.read_examples(str(f), DataConfig(column_names="source,label,mark,sentence,user"))
    with pytest.raises(TfclfError, match=r"cola.tsv: line 1: expected 3 fields \(from --column-names a,b,c\), "
                                         r"found 5"):
        data.read_examples(str(f), DataConfig(column_names="a,b,c", text_column="a", label_column="b"))
    bad = write(tmp_path / "ragged.tsv", content + "gj04\tno\tlast\n")
    with pytest.raises(TfclfError, match=r"ragged.tsv: line 3: expected 5 fields like line 1, found 3"):
        data.read_examples(str(bad), DataConfig(header=False, text_column="3", label_column="1"))


def test_column_names_on_a_file_with_a_header(tmp_path):
    f = write(tmp_path / "t.csv", "body,queue\nhello there my friend,a\nbye now,b\n")
    with pytest.raises(TfclfError, match=r"t.csv: line 1: the first row looks like a header \['body', 'queue'\], "
                                         r"but --column-names names the columns of a headerless file. Pass "
                                         r"--skip-rows 1"):
        read(f, column_names="text,label")
    assert read(f, column_names="text,label", skip_rows=1)["label"].tolist() == ["a", "b"]
    assert read(f, column_names="text,label", header=False)["text"].tolist() == ["body", "hello there my friend", "bye now"]
    with pytest.raises(TfclfError, match=r"--column-names names the columns of a headerless file; it cannot be "
                                         r"combined with --header"):
        DataConfig(column_names="text,label", header=True)


def test_duplicate_header_names_are_an_error(tmp_path):
    f = write(tmp_path / "t.csv", "id,text,label,text\n1,a,x,b\n")
    with pytest.raises(TfclfError) as e:
        read(f)
    message = str(e.value)
    assert "t.csv: line 1 (header): column 'text' appears 2 times (fields [1, 3], 0-based)" in message
    assert "--column-names" in message


def test_mbti_with_skip_rows_and_default_columns_is_refused(tmp_path):
    f = write(tmp_path / "mbti.csv", '<<<<<<< HEAD\ntype,posts\nINFJ,"a|||b"\nENTP,"c"\n')
    with pytest.raises(TfclfError, match=r"mbti.csv: line 2 \(header\): --text-column 'text' is not a column. "
                                         r"Columns found: \['type', 'posts'\]"):
        read(f, skip_rows=1)


def test_jsonl_text_that_is_not_a_string_names_column_type_and_line(tmp_path):
    f = write(tmp_path / "d.jsonl", '{"text": "ok", "label": "a"}\n{"text": 1.5, "label": "b"}\n')
    with pytest.raises(TfclfError, match=r"d.jsonl: line 2: --text-column 'text' holds a float \(1.5\); a text "
                                         r"column must hold strings. Received: dtype float"):
        read(f)
    g = write(tmp_path / "e.jsonl", '{"text": ["x", "y"], "label": "a"}\n')
    with pytest.raises(TfclfError, match=r"e.jsonl: line 1: --text-column 'text' holds a list"):
        read(g)


def test_parquet_list_label_is_a_label_set_unless_single_label(tmp_path):
    pd.DataFrame({"text": ["a b", "c d"], "label": [["account"], ["billing", "account"]],
                  "n": [1, 2]}).to_parquet(tmp_path / "d.parquet")
    with pytest.raises(TfclfError, match=r"d.parquet: row 1: --label-column 'label' holds a list "
                                         r"\(\['account'\]\); expected one label per row.*--task single-label"):
        read(tmp_path / "d.parquet", task="single-label")
    for kwargs in ({}, {"label_separator": "|"}, {"task": "multi-label"}):
        df = read(tmp_path / "d.parquet", **kwargs)
        assert df["label"].tolist() == [("account",), ("account", "billing")]
    with pytest.raises(TfclfError, match=r"d.parquet: row 1: --text-column 'n' holds a int \(1\)"):
        read(tmp_path / "d.parquet", text_column="n", label_separator="|")


def test_a_folder_with_one_data_file_and_its_notes_reads_that_file(tmp_path):
    from tfclf import data
    from tfclf.config import DataConfig

    (tmp_path / "SOURCES.md").write_text("# where this came from\n")
    (tmp_path / "posts.csv").write_text("text,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(20)))
    p = data.prepare(DataConfig(data=str(tmp_path)), seed=0)
    assert sum(p.rows.values()) == 20 and p.labels.names == ("a", "b")
    (tmp_path / "more.csv").write_text("text,label\nx,a\n")  # two data files: no guessing
    with pytest.raises(TfclfError, match="no label folders"):
        data.prepare(DataConfig(data=str(tmp_path)), seed=0)
