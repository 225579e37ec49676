"""The baselines library: methods, the registry, label descriptions, the sentence embedder."""
import csv
import json

import numpy as np
import pandas as pd
import pytest

from tfclf import baselines, evaluation
from tfclf.config import (BaselineMethod, DataConfig, ModelConfig, OptimizerConfig, Pooling, RunConfig,
                          TrainConfig)
from tfclf.data import LABEL, TEXT, Splits, load_splits
from tfclf.errors import TfclfError

from keyword_data import FILLER, keyword_rows

ML_LABELS = ("alpha", "beta", "gamma")  # multi-label: a text has a label's name as a word iff it has the label


def multi_label_rows(n: int, seed: int = 0) -> list[tuple[str, tuple[str, ...]]]:
    """n (text, label set) rows: the 7 non-empty subsets of ML_LABELS in turn, each label's
    name inserted among 3-8 filler words, so a text holds 1-3 labels."""
    rng = np.random.default_rng(seed)
    subsets = [tuple(x for j, x in enumerate(ML_LABELS) if k >> j & 1) for k in range(1, 8)]
    rows = []
    for i in range(n):
        labels = subsets[i % len(subsets)]
        words = list(rng.choice(FILLER, size=rng.integers(3, 9)))
        for name in labels:
            words.insert(int(rng.integers(0, len(words) + 1)), name)
        rows.append((" ".join(words), labels))
    return rows


def frame(rows):
    return pd.DataFrame({TEXT: [t for t, _ in rows], LABEL: [lab for _, lab in rows]})


def multi_hot(label_sets, names=ML_LABELS):
    return np.array([[name in labels for name in names] for labels in label_sets], dtype=np.float32)


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return path


def test_majority_predicts_the_most_frequent_training_label(tmp_path):
    train = frame([("a", "billing")] * 5 + [("b", "shipping")] * 3 + [("c", "account")] * 2)
    test = frame([("x", "billing"), ("y", "shipping"), ("z", "shipping"), ("w", "account")])
    m = baselines.run_baseline("majority", Splits(train=train, validation=None, test=test), RunConfig(),
                              tmp_path)
    assert m["accuracy"] == pytest.approx(0.25)
    assert m["confusion_matrix"] == [[0, 1, 0], [0, 1, 0], [0, 2, 0]]  # labels: account, billing, shipping
    assert m["roc_auc"] == pytest.approx(0.5)
    # Probabilities are the training frequencies: confidence 0.5 everywhere.
    assert m["confidence_by_class"]["billing"]["median"] == pytest.approx(0.5)
    assert m["method"] == "majority" and m["split"] == "test"
    assert m["baseline"] == {"seed": 42, "majority_label": "billing"}
    assert json.loads((tmp_path / "metrics.json").read_text())["accuracy"] == pytest.approx(0.25)
    assert (tmp_path / "report.md").is_file() and (tmp_path / "confusion_matrix.png").is_file()


def test_baselines_evaluate_the_split_eval_split_names(tmp_path):
    """--eval-split validation scores the baseline on validation although a test split exists, as fit does."""
    train = frame([("a", "billing")] * 5 + [("b", "shipping")] * 3)
    validation = frame([("v", "billing")] * 3)
    test = frame([("t", "shipping")] * 4)
    splits = Splits(train=train, validation=validation, test=test)
    m = baselines.run_baseline("majority", splits, RunConfig(data=DataConfig(eval_split="validation")), tmp_path / "v")
    assert m["split"] == "validation" and m["accuracy"] == pytest.approx(1.0) and m["n_examples"] == 3
    assert baselines.run_baseline("majority", splits, RunConfig(), tmp_path / "t")["accuracy"] == pytest.approx(0.0)
    with pytest.raises(TfclfError, match=r"--eval-split validation: the data has no validation split. "
                                         r"Splits present: \['train', 'test'\]"):
        baselines.run_baseline("majority", Splits(train=train, validation=None, test=test),
                               RunConfig(data=DataConfig(eval_split="validation")), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_baselines_get_the_runs_bootstrap_intervals_drawn_with_its_seed(tmp_path):
    train = frame([("a", "billing")] * 5 + [("b", "shipping")] * 3)
    test = frame([("x", "billing"), ("y", "shipping"), ("z", "billing"), ("w", "billing")] * 10)
    config = RunConfig(train=TrainConfig(seed=5, bootstrap=100))
    m = baselines.run_baseline("majority", Splits(train=train, validation=None, test=test), config, tmp_path,
                               plots=False, report=False)
    assert m["bootstrap"] == evaluation.bootstrap_intervals(np.array([0, 1, 0, 0] * 10), np.zeros(40, int), 100, 5,
                                                            n_classes=2)
    assert m["bootstrap"]["mcc"]["low"] == m["bootstrap"]["mcc"]["high"] == 0.0  # one predicted class: MCC 0


def test_baselines_are_scored_per_group_with_eval_group_by(tmp_path):
    from tfclf.data import EVAL_GROUP

    train = frame([("a", "billing")] * 5 + [("b", "shipping")] * 3)
    test = frame([("x", "billing"), ("y", "shipping"), ("z", "shipping"), ("w", "billing")])
    test[EVAL_GROUP] = ["u1", "u2", "u2", "u3"]
    config = RunConfig(data=DataConfig(eval_group_by="user"))
    m = baselines.run_baseline("majority", Splits(train=train, validation=None, test=test), config, tmp_path,
                               plots=False, report=False)
    level = m["group_level"]
    assert (level["group_by"], level["n_groups"], level["accuracy"]) == ("user", 3, pytest.approx(2 / 3))
    assert "group_level" not in baselines.run_baseline(
        "majority", Splits(train=train, validation=None, test=test.drop(columns=[EVAL_GROUP])), RunConfig(),
        tmp_path / "plain", plots=False, report=False)


def test_tfidf_logreg_learns_keywords_deterministically(tmp_path):
    splits = Splits(train=frame(keyword_rows(300, 0)), validation=None, test=frame(keyword_rows(60, 1)))
    config = RunConfig(train=TrainConfig(seed=3))
    a = baselines.run_baseline("tfidf-logreg", splits, config, tmp_path / "a", plots=False, report=False)
    b = baselines.run_baseline("tfidf-logreg", splits, config, tmp_path / "b", plots=False, report=False)
    assert a["accuracy"] == 1.0 and a["f1_macro"] == 1.0
    assert {k: v for k, v in a.items() if k != "fit_predict_seconds"} == \
        {k: v for k, v in b.items() if k != "fit_predict_seconds"}
    assert a["baseline"] == {"tfidf_ngram_max": 1, "tfidf_min_df": 1, "tfidf_max_features": 200000,
                             "logreg_c": 10.0, "logreg_max_iter": 2000, "logreg_class_weight": None, "seed": 3,
                             "vocabulary_size": len({w for t in splits.train[TEXT] for w in t.split()
                                                     if len(w) > 1})}
    # The same schema as a fine-tuned model's metrics.json.
    schema = set(evaluation.classification_metrics(np.array([0, 1]), np.eye(2), ["x", "y"]))
    assert schema <= set(a)


def test_evaluated_labels_must_occur_in_training(tmp_path):
    splits = Splits(train=frame([("a", "x"), ("b", "y")]), validation=None, test=frame([("c", "z")]))
    with pytest.raises(TfclfError, match="label 'z' does not occur in the training data"):
        baselines.run_baseline("majority", splits, RunConfig(), tmp_path)
    with pytest.raises(TfclfError, match=r"--method must be one of \['majority', 'tfidf-logreg', 'zero-shot'\]"):
        baselines.get_method("nli")


def test_the_registry_holds_exactly_the_methods_config_validates():
    assert list(baselines.METHODS) == list(BaselineMethod)
    assert TrainConfig(baselines=tuple(BaselineMethod)).baselines == tuple(BaselineMethod)
    assert baselines.get_method("tfidf-logreg") is baselines.METHODS[BaselineMethod.TFIDF_LOGREG]


def test_config_validates_baseline_names():
    assert TrainConfig(baselines=("majority", "zero-shot")).baselines == ("majority", "zero-shot")
    with pytest.raises(TfclfError, match="--baselines must be distinct names from"):
        TrainConfig(baselines=("majority", "bert"))
    with pytest.raises(TfclfError, match="--label-template must contain"):
        baselines.BaselineConfig(label_template="i feel")


def test_label_descriptions_files(tmp_path):
    names = ["0", "1", "billing_issue"]
    plain = tmp_path / "plain.txt"
    plain.write_text("# comment\n0: a negative review: bad\n1: a positive review\nbilling_issue: money\n"
                     "1: great\n")
    assert baselines.read_label_descriptions(str(plain), names) == {
        "0": ["a negative review: bad"], "1": ["a positive review", "great"], "billing_issue": ["money"]}
    yml = tmp_path / "d.yaml"
    yml.write_text("joy: [i am happy, what a delight]\nsadness: i feel down\n")
    assert baselines.read_label_descriptions(str(yml), ["joy", "sadness"]) == {
        "joy": ["i am happy", "what a delight"], "sadness": ["i feel down"]}
    with pytest.raises(TfclfError, match=r"plain.txt: line 2: label '0' does not occur"):
        baselines.read_label_descriptions(str(plain), ["1", "billing_issue"])
    with pytest.raises(TfclfError, match=r"no description for label\(s\) \['love'\]"):
        baselines.read_label_descriptions(str(yml), ["joy", "love", "sadness"])
    bad = tmp_path / "bad.txt"
    bad.write_text("joy: happy\nsadness\n")
    with pytest.raises(TfclfError, match="bad.txt: line 2: expected 'label: description'"):
        baselines.read_label_descriptions(str(bad), ["joy", "sadness"])
    assert baselines.label_text("billing_issue", "about {label}") == "about billing issue"


def test_sentence_embedder_gives_unit_vectors_independent_of_batching(tiny_bert):
    embedder = baselines.SentenceEmbedder(str(tiny_bert.encoder), str(tiny_bert.preprocessor), 16, "mean")
    texts = ["please refund the invoice", "my package is late", "login", "the email and password help"]
    together = embedder(texts, batch_size=4)
    alone = embedder(texts, batch_size=1)
    assert together.shape == (4, 32) and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_zero_shot_picks_the_nearest_description(tiny_bert, tmp_path):
    # A text identical to a label's description has cosine 1 with it, whatever the encoder.
    descriptions = {"account": "login email password", "billing": "please refund the invoice",
                    "shipping": "my package is late"}
    (tmp_path / "labels.txt").write_text("".join(f"{k}: {v}\n" for k, v in descriptions.items()))
    rows = [(descriptions[label], label) for label in sorted(descriptions)] * 4
    splits = Splits(train=frame(rows), validation=None, test=frame(rows))
    config = RunConfig(model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN))
    bc = baselines.BaselineConfig(label_descriptions=str(tmp_path / "labels.txt"), zero_shot_batch_size=5)
    m = baselines.run_baseline("zero-shot", splits, config, tmp_path / "out", baseline_config=bc,
                              plots=False, report=False)
    assert m["accuracy"] == 1.0
    assert m["baseline"]["zero_shot_temperature"] == 0.05 and m["baseline"]["pooling"] == "mean"
    assert m["baseline"]["label_texts"]["billing"] == ["please refund the invoice"]


def test_fit_puts_baselines_beside_the_model(tiny_bert, tmp_path):
    import tfclf.fit  # noqa: F401  (the CLI module must not shadow the API call)
    from tfclf import training

    data = write_csv(tmp_path / "d.csv", keyword_rows(90, 3))
    config = RunConfig(
        data=DataConfig(data=str(data)),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(epochs=1, batch_size=16, output_dir=str(tmp_path / "run"),
                          baselines=("majority", "tfidf-logreg")))
    run = training.fit(config, verbose=0)
    out = run.output_dir
    for method in ("majority", "tfidf-logreg"):
        m = json.loads((out / "baselines" / method / "metrics.json").read_text())
        assert m["n_examples"] == run.metrics["n_examples"] and m["split"] == run.eval_split
    text = (out / "report.md").read_text()
    assert "| metric | model | majority | tfidf-logreg |" in text
    assert "![learning curves](learning_curves.png)" in text


# ------------------------------------------------------------------------------ multi-label

def test_multi_label_majority_gives_each_label_its_training_share():
    # alpha in 7 of 10 training rows, beta in 3, gamma in exactly 5.
    sets = [("alpha", "gamma")] * 3 + [("alpha", "beta", "gamma")] * 2 + [("alpha",)] * 2 + [("beta",)]
    sets += [(), ()]
    y = multi_hot(sets)
    texts = ["x"] * len(sets)
    probabilities, details = baselines.majority(texts, y, ["a", "b", "c", "d"], ML_LABELS, RunConfig(),
                                                baselines.BaselineConfig())
    assert probabilities.shape == (4, 3)
    np.testing.assert_array_equal(probabilities, np.tile([0.7, 0.3, 0.5], (4, 1)))
    # At --threshold 0.5 (probability >= threshold): the labels in at least half the rows.
    assert details == {"majority_labels": ["alpha", "gamma"]}
    _, details = baselines.majority(texts, y, ["a"], ML_LABELS, RunConfig(train=TrainConfig(threshold=0.25)),
                                    baselines.BaselineConfig())
    assert details == {"majority_labels": ["alpha", "beta", "gamma"]}


def test_multi_label_tfidf_logreg_learns_each_keyword():
    train, test = multi_label_rows(210, 0), multi_label_rows(70, 1)
    probabilities, details = baselines.tfidf_logreg(
        [t for t, _ in train], multi_hot(s for _, s in train), [t for t, _ in test], ML_LABELS,
        RunConfig(train=TrainConfig(seed=3)), baselines.BaselineConfig())
    assert probabilities.shape == (70, 3) and details["constant_labels"] == []
    y_test = multi_hot(s for _, s in test)
    predicted = probabilities >= 0.5
    tp = (predicted & (y_test == 1)).sum()
    micro_f1 = 2 * tp / (predicted.sum() + y_test.sum())
    assert micro_f1 == 1.0
    # Independent probabilities: a text with all three keywords gets all three.
    assert (probabilities[y_test.sum(axis=1) == 3] > 0.8).all()


def test_multi_label_tfidf_logreg_label_in_every_or_no_training_row():
    # alpha is in every training row, delta in none: no second class to learn, a constant instead.
    train = [(t + " alpha", ("alpha",) + s) for t, s in multi_label_rows(70, 0) if "alpha" not in s]
    names = ("alpha", "beta", "delta", "gamma")
    probabilities, details = baselines.tfidf_logreg(
        [t for t, _ in train], multi_hot((s for _, s in train), names), ["beta here", "gamma there", "the"],
        names, RunConfig(), baselines.BaselineConfig())
    assert details["constant_labels"] == ["alpha", "delta"]
    np.testing.assert_array_equal(probabilities[:, 0], 1.0)
    np.testing.assert_array_equal(probabilities[:, 2], 0.0)
    assert probabilities[0, 1] > 0.5 > probabilities[0, 3] and probabilities[1, 3] > 0.5 > probabilities[1, 1]


def test_multi_label_zero_shot_is_a_sigmoid_of_the_shifted_cosine(tiny_bert, tmp_path):
    bc = baselines.BaselineConfig(zero_shot_bias=0.25, zero_shot_temperature=0.05)
    z = np.array([[0.25, 0.35, -1.0, 1.0]])
    np.testing.assert_allclose(baselines.sigmoid_of_similarity(z, bc),
                               [[0.5, 1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(25.0)), 1 / (1 + np.exp(-15.0))]])
    extreme = baselines.sigmoid_of_similarity(np.array([[-1.0, 1.0]]),
                                              baselines.BaselineConfig(zero_shot_temperature=1e-6))
    np.testing.assert_array_equal(extreme, [[0.0, 1.0]])  # no overflow
    with pytest.raises(TfclfError, match=r"--zero-shot-bias must be a cosine similarity in \[-1, 1\]"):
        baselines.BaselineConfig(zero_shot_bias=1.5)

    descriptions = {"alpha": "please refund the invoice", "beta": "my package is late", "gamma": "login email"}
    texts = list(descriptions.values()) + ["the password help"]
    config = RunConfig(model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN))
    (tmp_path / "labels.txt").write_text("".join(f"{k}: {v}\n" for k, v in descriptions.items()))
    bc = baselines.BaselineConfig(label_descriptions=str(tmp_path / "labels.txt"), zero_shot_batch_size=2,
                                  zero_shot_bias=0.5, zero_shot_temperature=0.1)
    probabilities, details = baselines.zero_shot([], multi_hot([("alpha",)]), texts, ML_LABELS, config, bc)
    embedder = baselines.SentenceEmbedder(str(tiny_bert.encoder), str(tiny_bert.preprocessor), 16, "mean")
    cosine = embedder(texts) @ embedder(list(descriptions.values())).T
    assert probabilities.shape == (4, 3)
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-(cosine - 0.5) / 0.1)), atol=1e-4)
    # A text identical to a description has cosine 1 with it: sigmoid(0.5 / 0.1).
    np.testing.assert_allclose(np.diag(probabilities[:3]), 1 / (1 + np.exp(-5.0)), atol=1e-4)
    assert not np.allclose(probabilities.sum(axis=1), 1)  # independent per label, not a softmax
    assert details["label_texts"]["beta"] == ["my package is late"]


def test_multi_label_labels_are_the_sorted_union_of_training_sets(tmp_path):
    train = frame([("a", ("gamma", "alpha")), ("b", ("beta",)), ("c", ())])
    labels = baselines.label_vocabulary(train[LABEL].tolist(), multi_label=True)
    assert labels.names == ("alpha", "beta", "gamma")
    np.testing.assert_array_equal(
        baselines.encode_targets(labels, [("gamma", "alpha"), (), "beta"], True, where="test split"),
        [[1, 0, 1], [0, 0, 0], [0, 1, 0]])
    splits = Splits(train=train, validation=None, test=frame([("d", ("alpha", "zeta"))]))
    with pytest.raises(TfclfError, match="test split: label 'zeta' does not occur in the training data"):
        baselines.run_baseline("majority", splits, RunConfig(), tmp_path)
    # Tuples in the splits make them multi-label even while the config still says --task auto.
    assert baselines.is_multi_label(splits, RunConfig())
    assert baselines.is_multi_label(Splits(frame([("a", "x")]), None, None),
                                    RunConfig(data=DataConfig(task="multi-label")))
    assert not baselines.is_multi_label(Splits(frame([("a", "x")]), None, None), RunConfig())


def test_multi_label_baselines_write_the_multi_label_metrics(tmp_path):
    """Needs tfclf.evaluation.write_evaluation(..., multi_label=True, thresholds=..., threshold_strategy=...)."""
    train = frame(multi_label_rows(210, 0))
    test = frame(multi_label_rows(70, 1))
    splits = Splits(train=train, validation=None, test=test)
    config = RunConfig(data=DataConfig(task="multi-label"), train=TrainConfig(seed=3))
    results = baselines.run_baselines(["majority", "tfidf-logreg"], splits, config, tmp_path)
    tfidf, majority = results["tfidf-logreg"], results["majority"]
    assert tfidf["task"] == "multi-label" and tfidf["split"] == "test" and tfidf["n_examples"] == 70
    assert tfidf["f1_micro"] > 0.95 and tfidf["labels"] == list(ML_LABELS)
    assert tfidf["thresholds"] == {"alpha": 0.5, "beta": 0.5, "gamma": 0.5}
    assert tfidf["threshold_strategy"] == "fixed"
    # Each label is in 4 of the 7 subsets: in over half of the training rows, so majority predicts all three.
    assert majority["baseline"] == {"seed": 3, "majority_labels": ["alpha", "beta", "gamma"]}
    assert majority["cardinality"]["predicted"] == 3.0
    assert majority["per_label"]["beta"]["predicted"] == 70
    assert majority["roc_auc"] == pytest.approx(0.5)
    assert json.loads((tmp_path / "majority" / "metrics.json").read_text())["task"] == "multi-label"
    # A label in every training row does not stop the run.
    always = frame([(t + " alpha", tuple(sorted({"alpha", *s}))) for t, s in multi_label_rows(70, 2)])
    m = baselines.run_baseline("tfidf-logreg", Splits(always, None, test), config, tmp_path / "always",
                               plots=False, report=False)
    assert m["baseline"]["constant_labels"] == ["alpha"] and m["per_label"]["alpha"]["recall"] == 1.0


@pytest.mark.slow
def test_zero_shot_minilm_on_the_bundled_sample(minilm_hub, tmp_path):
    from tfclf.data import SAMPLE_DATA

    splits = load_splits(DataConfig(data=str(SAMPLE_DATA)), 42)
    config = RunConfig(model=ModelConfig(encoder=str(minilm_hub.root), pooling=Pooling.MEAN))
    m = baselines.run_baseline("zero-shot", splits, config, tmp_path, plots=False, report=False)
    chance = max(s["support"] for s in m["per_class"].values()) / m["n_examples"]
    assert m["accuracy"] > chance + 0.2
