import csv
import json

import numpy as np
import pytest

from tfclf import explain, explanation
from tfclf.config import DataConfig, ModelConfig, OptimizerConfig, Pooling, RunConfig, TrainConfig
from tfclf.errors import TfclfError

KEYWORDS = {"account": ["password", "login", "email"], "billing": ["refund", "charge", "invoice"],
            "shipping": ["package", "delivery", "late"]}
FILLER = ["the", "my", "is", "and", "please", "help", "with", "a", "to", "it"]


@pytest.fixture(scope="module")
def model(tiny_bert, tmp_path_factory):
    """A tiny classifier for which one keyword decides the label.

    Every filler sentence appears once per label, with that label's keyword at the same
    place, so filler words carry no signal in the data: a model that fits it has only
    the keywords to go on, and their SHAP values must dominate.
    """
    tmp = tmp_path_factory.mktemp("explain_run")
    rng = np.random.default_rng(0)
    with open(tmp / "data.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        # 100 sentences (300 rows): with 60, one of seven encoder initialisations tried
        # ended at 0.83 test accuracy; with 100 all seven reached 1.0 by epoch 2.
        for _ in range(100):
            words = list(rng.choice(FILLER, size=rng.integers(3, 9)))
            at = int(rng.integers(0, len(words) + 1))
            for label in sorted(KEYWORDS):
                keyword = str(rng.choice(KEYWORDS[label]))
                w.writerow([" ".join(words[:at] + [keyword] + words[at:]), label])
    config = RunConfig(
        data=DataConfig(data=str(tmp / "data.csv")),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(epochs=5, batch_size=16, output_dir=str(tmp / "run")))
    import tfclf.fit  # noqa: F401

    run = tfclf.fit(config, verbose=0)
    assert run.metrics["accuracy"] >= 0.9
    return tfclf.load(run.output_dir)


def test_top_tokens_are_the_keywords(model, tmp_path):
    texts = ["please help me with the refund", "my package is late", "reset my password please", "   "]
    records = explanation.explain(model, texts, tmp_path / "explain.html", max_evals=40, top_k=3)
    assert [r["labels"] for r in records[:3]] == [["billing"], ["shipping"], ["account"]]
    for r in records[:3]:
        values = [t["value"] for t in r["top_tokens"][r["labels"][0]]]
        assert values == sorted(values, reverse=True) and all(v > 0 for v in values) and len(values) <= 3
        assert sum(r["probabilities"].values()) == pytest.approx(1, abs=1e-5)
        assert sum(r["base_values"].values()) == pytest.approx(1, abs=1e-5)
    # SHAP measures each word against the fully masked text. The model puts that on one
    # label (which one depends on the initialisation), and a text of that label can only
    # add about 0.01 to it, below the noise of the filler words. The other labels' texts
    # must owe their prediction to their keyword.
    against_base = [r for r in records[:3] if r["base_values"][r["labels"][0]] < 0.5]
    assert len(against_base) >= 2
    for r in against_base:
        label = r["labels"][0]
        tokens = r["top_tokens"][label]
        # "my package is late" has two keywords that share the credit, so a filler word may
        # rank between them (0.21 for "is" against 0.18 and 0.18 in one run); together the
        # keywords must outweigh any filler word.
        keyword = [t["value"] for t in tokens if t["token"] in KEYWORDS[label]]
        filler = [t["value"] for t in tokens if t["token"] not in KEYWORDS[label]]
        assert keyword and max(keyword) > 0.1 and sum(keyword) > max(filler, default=0), (label, tokens)
    assert records[3]["top_tokens"] == {} and "blank" in records[3]["note"]

    saved = json.loads((tmp_path / "explain.json").read_text())
    assert saved["label_names"] == ["account", "billing", "shipping"] and saved["texts"] == records
    html = (tmp_path / "explain.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "refund" in html and "package" in html
    assert "<script" in html  # SHAP's interactive plot


def test_explanations_sum_to_the_prediction(model):
    # SHAP's efficiency property: base value + sum of word values = the model's output.
    values, records = explanation.explain_texts(model, ["refund the charge please"], max_evals=40)
    row = values[0]
    np.testing.assert_allclose(row.base_values + row.values.sum(0),
                               list(records[0]["probabilities"].values()), atol=1e-4)


def test_cli_reads_texts_from_a_file(model, tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("id,text\n1,my password login\n2,the invoice\n3,never read\n")
    code = explain.main(["--model", str(model.path), "--input", str(src), "--limit", "2",
                         "--text", "late delivery", "--output", str(tmp_path / "e.html"), "--max-evals", "20",
                         "--json", str(tmp_path / "top.json")])
    assert code == 0
    saved = json.loads((tmp_path / "top.json").read_text())
    assert [r["text"] for r in saved["texts"]] == ["late delivery", "my password login", "the invoice"]
    assert (tmp_path / "e.html").is_file()
    assert capsys.readouterr().out.splitlines()[1].startswith("account\t")


def test_bad_arguments(model, tmp_path):
    with pytest.raises(TfclfError, match="Nothing to explain"):
        explanation.explain(model, [], tmp_path / "e.html")
    with pytest.raises(TfclfError, match="--max-evals must be >= 2"):
        explanation.explain(model, ["x"], tmp_path / "e.html", max_evals=1)


def test_multi_label_explains_each_predicted_label_and_says_when_none_is(multilabel_run, tmp_path):
    import tfclf

    model = tfclf.load(multilabel_run)
    texts = ["please refund my password", "the", "my package is late"]
    records = explanation.explain(model, texts, tmp_path / "explain.html", max_evals=40, top_k=3)
    served, probabilities = model.predict(texts)
    for record, labels, p in zip(records, served, probabilities):
        assert record["labels"] == labels  # the served set, as predict writes it
        assert record["probabilities"] == pytest.approx(dict(zip(model.label_names, p.tolist())))
    first = records[0]
    assert set(first["labels"]) == {"account", "billing"} and set(first["top_tokens"]) == {"account", "billing"}
    top = {label: first["top_tokens"][label][0]["token"] for label in first["top_tokens"]}
    assert top == {"account": "password", "billing": "refund"}  # each label's own keyword
    assert records[1]["labels"] == [] and "no label reached its threshold" in records[1]["note"]
    assert list(records[1]["top_tokens"]) == [model.label_names[int(np.argmax(probabilities[1]))]]
    assert explanation.summary_line(records[1]).startswith("(none)\t")
    # A one-word text has no SHAP partition tree; its exact Shapley value is p(text) - p(masked).
    one = records[1]
    label = next(iter(one["top_tokens"]))
    gain = one["probabilities"][label] - one["base_values"][label]
    assert one["top_tokens"][label] == ([{"token": "the", "value": pytest.approx(gain), "position": 0}]
                                        if gain > 0 else [])
