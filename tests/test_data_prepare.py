"""prepare(): splits, vocabulary, drops, --dedupe, --limit-train, class weights, in memory and streamed."""
import csv
import logging

import numpy as np
import pytest

from tfclf import data
from tfclf.config import DataConfig
from tfclf.data import readers
from tfclf.errors import TfclfError

LABELS = ("billing", "shipping", "account")


def tweets_csv(path, n=1200, users=150, seed=0, sort=False, spam=True):
    """text,label,name rows; users post several tweets; with ``spam`` a text repeats across users."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        user = int(rng.integers(users))
        label = LABELS[user % 3]
        text = "same old spam" if spam and i % 97 == 0 else f"{label} tweet {i} w{int(rng.integers(1000))}"
        rows.append((text, label, f"user{user}"))
    if sort:
        rows.sort(key=lambda r: r[1])
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "name"])
        w.writerows(rows)
    return path


def fake_preprocess(text):
    import tensorflow as tf

    seq = tf.sequence_mask(tf.strings.split(text).row_lengths() + 2, 16, dtype=tf.int32)
    return {"input_word_ids": seq, "input_mask": seq, "input_type_ids": tf.zeros_like(seq)}


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- in memory

def test_class_folders_and_nested_splits(tmp_path):
    for split, n in (("train", 6), ("test", 2)):
        for label in ("neg", "pos"):
            for i in range(n):
                write(tmp_path / split / label / f"{i}_1.txt", f"{label} review {i} <br />")
    write(tmp_path / "train" / "urls_pos.txt", "http://x")
    write(tmp_path / "train" / "unsup" / "0_0.txt", "unlabelled")
    splits = data.load_splits(DataConfig(data=str(tmp_path), split=(0.5, 0.5, 0.0)), seed=0)
    assert len(splits.test) == 4
    assert sorted(splits.train["label"].unique()) == ["neg", "pos"]
    assert len(splits.train) + len(splits.validation) == 12
    assert "unlabelled" not in set(splits.train["text"])


def test_limit_train_is_stratified(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\n" + "".join(f"t{i},{'a' if i < 300 else 'b'}\n" for i in range(400)))
    p = data.prepare(DataConfig(train=str(f), split=(1.0, 0.0, 0.0), limit_train=40, eval_split="train"),
                     seed=0)
    assert p.split_names == ("train",) and p.eval_split == "train"
    assert p.report["splits"]["train"]["labels"] == {"a": 30, "b": 10}
    assert p.report["dropped"] == {"limit_train": 360}


def test_given_splits_used_as_is_and_validation_carved_when_missing(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(100)))
    test = write(tmp_path / "test.csv", "text,label\nu1,a\nu2,b\nu3,a\nu4,b\nu5,a\n")
    p = data.prepare(DataConfig(train=str(train), test=str(test)), seed=0)
    assert p.rows == {"train": 88, "validation": 12, "test": 5}  # 0.1 / (0.8 + 0.1) of 100, per label
    assert p.report["inputs"][0]["rows_read"] == 100


def test_no_input_at_all():
    with pytest.raises(TfclfError, match="No input"):
        data.load_splits(DataConfig(), seed=0)


def test_label_in_given_test_split_but_not_in_train_names_file_and_line(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\na,x\nb,y\nc,x\n")
    test = write(tmp_path / "test.csv", "text,label\nd,x\ne,z\n")
    with pytest.raises(TfclfError, match=r"test.csv: line 3: label 'z' in the test split does not occur in the "
                                         r"training data. Training labels: \['x', 'y'\]"):
        data.prepare(DataConfig(train=str(train), test=str(test)), seed=0)


def test_a_label_with_one_group_stays_in_train_when_stratified(tmp_path):
    # Stratified group splits fill each label's training share first: a label with a
    # single group is learnt rather than lost to test. (Two rows: one is an error when stratified.)
    rows = [f"t{i},{'ab'[i % 2]},u{i}" for i in range(60)] + ["lonely,c,solo", "lonely too,c,solo"]
    f = write(tmp_path / "d.csv", "text,label,name\n" + "\n".join(rows) + "\n")
    for seed in range(10):
        p = data.prepare(DataConfig(data=str(f), group_column="name", split=(0.5, 0.25, 0.25)), seed=seed)
        assert "c" in p.labels.names and "label_not_in_train" not in p.report["dropped"]


def test_rare_label_missing_from_a_ratio_split_train_is_dropped_and_counted(tmp_path):
    # Unstratified, a label whose only group lands in test cannot be learnt: drop, count, warn.
    rows = [f"t{i},{'ab'[i % 2]},u{i}" for i in range(60)] + ["lonely,c,solo"]
    f = write(tmp_path / "d.csv", "text,label,name\n" + "\n".join(rows) + "\n")
    for seed in range(40):
        p = data.prepare(DataConfig(data=str(f), group_column="name", split=(0.5, 0.25, 0.25),
                                    stratify=False), seed=seed)
        if "c" not in p.labels.names:
            assert p.report["dropped"] == {"label_not_in_train": 1}
            break
    else:
        pytest.fail("the lone group never left train")


def test_one_class_only(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\na,x\nb,x\nc,x\n")
    with pytest.raises(TfclfError, match=r"d.csv: the training data has 1 class\(es\) \['x'\]; a classifier needs "
                                         r"at least 2"):
        data.prepare(DataConfig(data=str(f)), seed=0)


def test_every_text_empty(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\n ,a\n,b\n")
    with pytest.raises(TfclfError, match=r"no usable rows: every row has a blank text.*'blank_text': 2"):
        data.prepare(DataConfig(data=str(f)), seed=0)


def test_dedupe_drops_cross_split_duplicates_from_validation_and_test(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\nsame,a\nfoo,b\nbar,a\n")
    val = write(tmp_path / "val.csv", "text,label\nsame,a\nonly val,b\nshared vt,a\n")
    test = write(tmp_path / "test.csv", "text,label\nsame,b\nfoo,b\nshared vt,a\nnew,a\n")
    config = DataConfig(train=str(train), validation=str(val), test=str(test))
    plain = data.prepare(config, seed=0)
    assert plain.report["duplicates"]["across"] == {"train/validation": 1, "train/test": 2, "validation/test": 2}
    deduped = data.prepare(DataConfig(train=str(train), validation=str(val), test=str(test), dedupe=True), seed=0)
    assert deduped.rows == {"train": 3, "validation": 2, "test": 1}
    assert deduped.frame("test")["text"].tolist() == ["new"]
    assert deduped.report["dropped"] == {"duplicate_across_splits": 4}
    assert deduped.report["duplicates"]["removed_by_dedupe"] == {"validation": 1, "test": 3}


def test_multi_label_targets_are_multi_hot(tmp_path):
    f = write(tmp_path / "d.csv", "text,tags\n" + "".join(
        f"t{i},{['a', 'b', 'a|b', 'c|a'][i % 4]}\n" for i in range(40)))
    p = data.prepare(DataConfig(data=str(f), label_column="tags", label_separator="|"), seed=0)
    assert p.multi_label and p.labels.names == ("a", "b", "c")
    y = p.targets("train")
    assert y.shape == (p.rows["train"], 3) and y.dtype == np.float32
    texts = p.frame("train")["text"].tolist()
    assert y[texts.index("t2")].tolist() == [1.0, 1.0, 0.0]
    assert p.report["splits"]["train"]["labels"]["a"] == int(y[:, 0].sum())


def test_balanced_class_weight(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\n" + "".join(f"t{i},{'a' if i % 4 else 'b'}\n" for i in range(400)))
    p = data.prepare(DataConfig(data=str(f), class_weight="balanced"), seed=0)
    counts = p.report["splits"]["train"]["labels"]
    assert p.class_weight == pytest.approx({0: p.rows["train"] / (2 * counts["a"]),
                                            1: p.rows["train"] / (2 * counts["b"])})
    assert p.report["class_weight"]["b"] == pytest.approx(2.0, rel=0.02)


# ----------------------------------------------------------------------------- streamed

@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_ROWS", 97)


def test_stream_matches_memory_in_labels_and_totals(tmp_path, small_chunks):
    f = tweets_csv(tmp_path / "t.csv")
    mem = data.prepare(DataConfig(data=str(f), stream=False), seed=1)
    st = data.prepare(DataConfig(data=str(f), stream=True), seed=1)
    assert st.streaming and not mem.streaming
    assert st.labels == mem.labels
    total = lambda p: {k: sum(p.report["splits"][s]["labels"].get(k, 0) for s in p.rows) for k in LABELS}
    in_file = {k: sum(1 for r in csv.DictReader(open(f, newline="")) if r["label"] == k) for k in LABELS}
    assert total(st) == total(mem) == in_file and sum(in_file.values()) == 1200
    assert abs(st.rows["train"] / 1200 - 0.8) < 0.05
    # The hash key is the text: identical texts never straddle splits.
    assert set(st.report["duplicates"]["across"].values()) == {0}


def test_stream_is_deterministic_and_independent_of_chunk_size(tmp_path, monkeypatch):
    f = tweets_csv(tmp_path / "t.csv")
    monkeypatch.setattr(readers, "CHUNK_ROWS", 50)
    a = data.prepare(DataConfig(data=str(f), stream=True, group_column="name"), seed=3)
    monkeypatch.setattr(readers, "CHUNK_ROWS", 333)
    b = data.prepare(DataConfig(data=str(f), stream=True, group_column="name"), seed=3)
    assert a.report["splits"] == b.report["splits"]
    assert a.report["groups_in_multiple_splits"] == 0 and sum(a.report["groups"].values()) == 150


def test_stream_group_split_never_leaks_a_group(tmp_path, small_chunks):
    f = tweets_csv(tmp_path / "t.csv", n=3000, users=500, spam=False)  # each text names one row
    p = data.prepare(DataConfig(data=str(f), stream=True, group_column="name"), seed=0)
    group_of = {r["text"]: r["name"] for r in csv.DictReader(open(f, newline="", encoding="utf-8"))}
    splits_of_group = {}
    for split in p.split_names:  # what the training pipelines will actually read
        for texts, _ in p.chunks(split):
            for t in texts:
                splits_of_group.setdefault(group_of[t], set()).add(split)
    assert max(len(s) for s in splits_of_group.values()) == 1
    assert {len(s) for s in splits_of_group.values()} == {1} and len(splits_of_group) == 500
    assert p.report["groups_in_multiple_splits"] == 0


def test_stream_dataset_rows_targets_and_limit(tmp_path, small_chunks):
    f = tweets_csv(tmp_path / "t.csv")
    p = data.prepare(DataConfig(data=str(f), stream=True, limit_train=500, dedupe=True), seed=0)
    assert p.rows["train"] == 500 and p.report["dropped"]["limit_train"] == p.report["inputs"][0]["rows_read"] - \
        500 - p.rows["validation"] - p.rows["test"]
    ds = p.dataset("train", fake_preprocess, batch_size=64, shuffle=True, seed=0)
    assert sum(int(y.shape[0]) for _, y in ds) == 500
    test_targets = p.targets("test")
    ordered = np.concatenate([y.numpy() for _, y in p.dataset("test", fake_preprocess, batch_size=64,
                                                                shuffle=False, seed=0)])
    assert ordered.tolist() == test_targets.tolist() and len(ordered) == p.rows["test"]
    assert p.report["splits"]["test"]["labels"] == {
        name: int((test_targets == i).sum()) for i, name in enumerate(p.labels.names) if (test_targets == i).any()}


def test_stream_is_chosen_above_the_size_threshold(tmp_path):
    f = tweets_csv(tmp_path / "t.csv", n=200)
    assert data.prepare(DataConfig(data=str(f), stream_threshold_mb=0.001), seed=0).streaming
    assert not data.prepare(DataConfig(data=str(f)), seed=0).streaming


def test_stream_warns_when_rows_are_sorted_by_label(tmp_path, caplog):
    f = tweets_csv(tmp_path / "t.csv", sort=True)
    with caplog.at_level(logging.WARNING):
        data.prepare(DataConfig(data=str(f), stream=True, shuffle_buffer=100), seed=0)
    assert "look sorted by label" in caplog.text


def test_report_has_the_documented_keys(tmp_path):
    f = tweets_csv(tmp_path / "t.csv", n=300)
    p = data.prepare(DataConfig(data=str(f), group_column="name"), seed=0)
    written = p.write_report(tmp_path / "out" / "data_report.json")
    for key in ("splits", "dropped", "duplicates", "groups_in_multiple_splits", "lengths", "labels"):
        assert key in written
    assert written["splits"]["train"]["rows"] == p.rows["train"]
    assert (tmp_path / "out" / "data_report.json").is_file()


# ----------------------------------------------------------------------------- label checks

@pytest.mark.parametrize("stream", [False, True])
def test_a_label_column_of_free_text_is_an_error(tmp_path, stream):
    f = write(tmp_path / "d.csv", "text,label\n" + "".join(f"{i % 2},sentence number {i} here\n" for i in range(100)))
    with pytest.raises(TfclfError) as e:
        data.prepare(DataConfig(data=str(f), stream=stream), seed=0)
    message = str(e.value)
    assert "d.csv: --label-column ['label'] looks like free text" in message
    assert f"{e.value}".count("distinct labels in") == 1 and "more than half the rows" in message
    assert "Examples: ['sentence number" in message


def test_more_labels_than_max_labels_is_an_error(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\n" + "".join(f"t{i},c{i % 30}\n" for i in range(300)))
    assert len(data.prepare(DataConfig(data=str(f)), seed=0).labels) == 30
    with pytest.raises(TfclfError, match=r"30 distinct labels in \d+ training rows \(more than --max-labels 10\)"):
        data.prepare(DataConfig(data=str(f), max_labels=10), seed=0)


def test_a_tiny_dataset_is_not_free_text(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\na,x\nb,y\nc,x\nd,y\n")
    test = write(tmp_path / "test.csv", "text,label\ne,x\nf,y\n")
    p = data.prepare(DataConfig(train=str(train), test=str(test), split=(1.0, 0.0, 0.0)), seed=0)
    assert p.labels.names == ("x", "y") and p.eval_split == "test"


def test_missing_and_numeric_labels_in_the_report(tmp_path):
    rows = "".join(f"t{i},{['1', '1.0', '2', 'NaN', 'null', '', '2.0'][i % 7]}\n" for i in range(70))
    p = data.prepare(DataConfig(data=str(write(tmp_path / "d.csv", "text,label\n" + rows))), seed=0)
    assert p.labels.names == ("1", "2")
    assert p.report["dropped"] == {"missing_label": 20, "blank_label": 10}
    assert p.report["normalised_labels"] == {"1.0 -> 1": 10, "2.0 -> 2": 10}


def test_labels_that_differ_only_in_case_warn_once(tmp_path, caplog):
    rows = "".join(f"t{i},{['Billing', 'billing', 'shipping'][i % 3]}\n" for i in range(60))
    f = write(tmp_path / "d.csv", "text,label\n" + rows)
    with caplog.at_level(logging.WARNING):
        p = data.prepare(DataConfig(data=str(f)), seed=0)
    assert p.labels.names == ("Billing", "billing", "shipping")
    warnings = [r.getMessage() for r in caplog.records if "differ only in case" in r.getMessage()]
    assert len(warnings) == 1 and "Billing / billing" in warnings[0]


def test_a_class_with_one_row_is_an_error_when_stratified_and_a_warning_otherwise(tmp_path, caplog):
    rows = "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(40)) + "lonely,c\nfew1,d\nfew2,d\nfew3,d\n"
    f = write(tmp_path / "d.csv", "text,label\n" + rows)
    with pytest.raises(TfclfError, match=r"d.csv: class 'c' has 1 training row\(s\) after the stratified split"):
        data.prepare(DataConfig(data=str(f)), seed=0)
    with caplog.at_level(logging.WARNING):
        p = data.prepare(DataConfig(data=str(f), label_map="c=drop"), seed=0)
    assert p.report["splits"]["train"]["labels"]["d"] == 3
    assert "fewer than --min-class-examples 5 training rows: d (3)" in caplog.text


def test_no_validation_or_test_left_is_an_error_unless_eval_split_train(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(40)))
    with pytest.raises(TfclfError, match=r"d.csv: the validation and test splits are both empty after splitting "
                                         r"\(rows: \{'train': 40\}.*--eval-split train"):
        data.prepare(DataConfig(data=str(f), split=(1.0, 0.0, 0.0)), seed=0)
    p = data.prepare(DataConfig(data=str(f), split=(1.0, 0.0, 0.0), eval_split="train"), seed=0)
    assert p.eval_split == "train"
    assert data.prepare(DataConfig(data=str(f), eval_split="validation"), seed=0).eval_split == "validation"
    with pytest.raises(TfclfError, match=r"--eval-split test asks for metrics on the test split, but it is empty"):
        data.prepare(DataConfig(data=str(f), split=(0.9, 0.1, 0.0), eval_split="test"), seed=0)
    with pytest.raises(TfclfError, match=r"--eval-split must be one of \['test', 'validation', 'train'\]"):
        DataConfig(eval_split="dev")


# ------------------------------------------------------------ several examples per row

def profiles_csv(path, n=300, seed=0):
    """description,posts,type rows: a description (blank in every 7th row) and 1-6 posts joined
    by '|||', some repeated across rows; each text names its row, except the shared ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        posts = [f"row{i} post{j}" for j in range(int(rng.integers(1, 7)))]
        if i % 11 == 0:
            posts.append("same old post")  # in many rows: a duplicate, not a leak
        rows.append(("" if i % 7 == 0 else f"row{i} bio", "|||".join(posts), LABELS[int(rng.integers(3))]))
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["description", "posts", "type"])
        w.writerows(rows)
    return path


def row_of(text):
    return text.split()[0] if text.startswith("row") else None


@pytest.mark.parametrize("stream", [False, True])
def test_a_rows_examples_never_straddle_splits(tmp_path, small_chunks, stream):
    f = profiles_csv(tmp_path / "p.csv")
    config = DataConfig(data=str(f), text_column="description,posts", label_column="type",
                        stack_text_columns=True, explode_text="|||", stream=stream)
    p = data.prepare(config, seed=0)
    assert p.streaming is stream
    splits_of_row, total = {}, 0
    for split in p.split_names:  # what the training pipelines will actually read
        for texts, _ in p.chunks(split):
            total += len(texts)
            for t in texts:
                if row_of(t):
                    splits_of_row.setdefault(row_of(t), set()).add(split)
    assert {len(s) for s in splits_of_row.values()} == {1} and len(splits_of_row) == 300
    assert total == sum(p.rows.values())
    r = p.report["rows_to_examples"]
    assert r["rows"] == 300 and r["examples"] == total
    assert r["examples_per_column"] == {"description": 300 - 43, "posts": total - (300 - 43)}
    assert list(r["examples_per_column"]) == ["description", "posts"]
    assert r["rows_in_multiple_splits"] == 0 and sum(r["rows_per_split"].values()) == 300
    assert p.report["dropped"] == {"blank_text": 43}  # the blank descriptions
    assert p.report["duplicates"]["within"]["train"]["extra_copies"] > 0  # "same old post"
    assert abs(p.rows["train"] / total - 0.8) < 0.1


def test_several_examples_per_row_match_in_memory_and_streamed(tmp_path, small_chunks):
    f = profiles_csv(tmp_path / "p.csv")
    kwargs = dict(data=str(f), text_column="description,posts", label_column="type", explode_text="|||",
                  max_examples_per_row=3, empty_text="[none]")
    mem = data.prepare(DataConfig(**kwargs, stream=False), seed=1)
    st = data.prepare(DataConfig(**kwargs, stream=True), seed=1)
    assert sum(mem.rows.values()) == sum(st.rows.values()) == mem.report["rows_to_examples"]["examples"]
    assert mem.report["rows_to_examples"] == {**st.report["rows_to_examples"],
                                              "rows_per_split": mem.report["rows_to_examples"]["rows_per_split"]}
    assert mem.report["dropped"] == st.report["dropped"] and mem.report["dropped"]["max_examples_per_row"] > 0
    # --dedupe drops the shared post from validation and test; no row moves.
    st = data.prepare(DataConfig(**{**kwargs, "max_examples_per_row": None}, stream=True, dedupe=True), seed=1)
    assert st.report["dropped"]["duplicate_across_splits"] > 0
    assert st.report["rows_to_examples"]["rows_in_multiple_splits"] == 0


def test_a_rows_examples_stay_together_with_a_group_column(tmp_path):
    f = write(tmp_path / "d.csv", "description,text,label,user\n" + "".join(
        f"bio {i},tweet {i},{'ab'[i % 2]},{'u' + str(i // 3) if i % 5 else ''}\n" for i in range(120)))
    p = data.prepare(DataConfig(data=str(f), text_column="description,text", group_column="user",
                                stack_text_columns=True), seed=0)
    split_of = {t: s for s in p.split_names for t in p.frame(s)["text"]}
    assert all(split_of[f"bio {i}"] == split_of[f"tweet {i}"] for i in range(120))
    assert p.report["groups_in_multiple_splits"] == 0 and p.report["blank_groups"] == 24
    assert "rows_in_multiple_splits" not in p.report["rows_to_examples"]


def test_exploded_multi_label_rows_keep_their_label_sets(tmp_path):
    f = write(tmp_path / "d.csv", "text,tags\n" + "".join(
        f"a{i}|||b{i},{['x', 'y', 'x|y', 'z|x'][i % 4]}\n" for i in range(60)))
    p = data.prepare(DataConfig(data=str(f), label_column="tags", label_separator="|", explode_text="|||"),
                     seed=0)
    assert p.multi_label and sum(p.rows.values()) == 120
    for split in p.split_names:
        df = p.frame(split)
        by_row = dict(zip(df["text"], df["label"]))
        for t, label in by_row.items():
            assert by_row[("b" if t[0] == "a" else "a") + t[1:]] == label  # the other part: same split, same set


def test_exploded_rows_in_random_order_do_not_look_sorted(tmp_path, caplog):
    f = write(tmp_path / "d.csv", "text,label\n" + "".join(
        "|||".join(f"r{i} p{j}" for j in range(20)) + f",{'abc'[(i * 7) % 3]}\n" for i in range(300)))
    with caplog.at_level(logging.WARNING):
        p = data.prepare(DataConfig(data=str(f), explode_text="|||", stream=True, shuffle_buffer=100), seed=0)
    assert sum(p.rows.values()) == 6000 and "look sorted" not in caplog.text


# ------------------------------------------------------------------------------- --eval-group-by

@pytest.mark.parametrize("stream", [False, True])
def test_eval_groups_are_the_split_groups_and_follow_the_dataset_order(tmp_path, small_chunks, stream):
    f = tweets_csv(tmp_path / "t.csv", spam=False)
    with open(f, newline="", encoding="utf-8") as fh:
        user_of = {r["text"]: r["name"] for r in csv.DictReader(fh)}
    p = data.prepare(DataConfig(data=str(f), eval_group_by="name", stream=stream), seed=0)
    assert p.streaming is stream
    # Without --group-column the evaluation groups are the split groups: none straddles splits.
    assert p.report["groups_in_multiple_splits"] == 0
    for split in p.split_names:
        texts = np.concatenate([t for t, _ in p.chunks(split)])
        assert p.groups(split).tolist() == [user_of[t] for t in texts]
    test_groups = set(p.groups("test").tolist())
    assert p.report["eval_groups"] == {"group_by": "name", "split": "test", "groups": len(test_groups)}
    assert not test_groups & set(p.groups("train").tolist())


@pytest.mark.parametrize("stream", [False, True])
def test_a_group_whose_examples_disagree_on_the_label_is_an_error_before_training(tmp_path, stream):
    train = write(tmp_path / "train.csv", "text,label,user\n" + "".join(
        f"text {i},{'ab'[i % 2]},u{i}\n" for i in range(40)))
    test = write(tmp_path / "test.csv", "text,label,user\nt1,a,x\nt2,b,y\nt3,b,x\nt4,a,y\nt5,a,z\n")
    with pytest.raises(TfclfError, match=r"--eval-group-by 'user', test split: group 'x' has examples with "
                                         r"different labels: 'a', 'b' \(2 of 3 groups disagree\)"):
        data.prepare(DataConfig(train=str(train), test=str(test), eval_group_by="user", stream=stream), seed=0)
    # The same labels without --eval-group-by are fine.
    assert data.prepare(DataConfig(train=str(train), test=str(test), stream=stream), seed=0).rows["test"] == 5


@pytest.mark.parametrize("stream", [False, True])
def test_eval_group_by_row_groups_a_rows_exploded_examples(tmp_path, small_chunks, stream):
    f = profiles_csv(tmp_path / "p.csv")
    p = data.prepare(DataConfig(data=str(f), text_column="posts", label_column="type", explode_text="|||",
                                eval_group_by="row", stream=stream), seed=0)
    texts = np.concatenate([t for t, _ in p.chunks("test")])
    groups = p.groups("test")
    rows = {row_of(t) for t in texts if row_of(t)}
    assert len(groups) == len(texts) and len(set(groups.tolist())) == p.report["eval_groups"]["groups"]
    assert len(set(groups.tolist())) == p.report["rows_to_examples"]["rows_per_split"]["test"] >= len(rows)
    for g in set(groups.tolist()):  # every row's examples share one group
        assert len({row_of(t) for t, h in zip(texts, groups) if h == g} - {None}) == 1
