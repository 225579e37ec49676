"""Baselines on the same data and splits as ``fit``, with the same metrics.json schema.

``METHODS`` is the registry, keyed by ``config.BaselineMethod`` (the names ``fit
--baselines`` and ``python -m tfclf.baseline --method`` accept):

* ``majority``: always the most frequent training label; the probabilities are the
  training label frequencies (so ROC-AUC is 0.5);
* ``tfidf-logreg``: TF-IDF word n-grams and logistic regression, seeded by ``--seed``;
* ``zero-shot``: no training: the label whose description is nearest by cosine
  similarity of the encoder's L2-normalised sentence embeddings.

**Multi-label data** (``config.data.multi_label``, or label sets in the splits: each
``label`` cell a tuple of names) gets one binary decision per label. The label
vocabulary is the sorted union of the training labels (as ``tfclf.data.prepare``
builds it), targets are multi-hot ``[N, C]``, probabilities are independent per
label, and a label is predicted when its probability is at or above ``--threshold``
(``TrainConfig.threshold``, default 0.5, the same for every label: ``fixed``; a run's
``--threshold-strategy per-label-f1`` tunes the model's thresholds, not the
baselines'):

* ``majority``: each label's probability is its share of the training rows that
  have it, the same for every text (ROC-AUC 0.5). At threshold 0.5 it therefore
  predicts, for every text, exactly the labels present in at least half of the
  training rows (often none);
* ``tfidf-logreg``: one-vs-rest: one logistic regression per label on the same
  TF-IDF features (sklearn ``MultiOutputClassifier``). A label present in every
  training row, or in none, has no second class to learn: its probability is the
  constant 1 or 0;
* ``zero-shot``: ``sigmoid((cosine - --zero-shot-bias) / --zero-shot-temperature)``
  per label, so at threshold 0.5 a label is predicted when its description's cosine
  similarity to the text is at least ``--zero-shot-bias``.

With ``--eval-group-by`` a baseline is also scored per group (metrics.json
``group_level``, as ``tfclf.evaluation`` computes it for the model), and report.md puts
its group level beside the model's.

``run_baseline`` evaluates one on given splits (``run_baselines`` several, for
``fit --baselines``); ``write_baseline`` reads the data as ``fit`` does and writes a
baseline folder (``python -m tfclf.baseline``).

Example::

    from tfclf import baselines
    metrics = baselines.run_baseline("tfidf-logreg", splits, config, "runs/baseline-tfidf")
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from tfclf import evaluation, object_storage, outputs, rundir
from tfclf.config import BaselineMethod, RunConfig, ThresholdStrategy, field
from tfclf.data import EVAL_GROUP, LABEL, SAMPLE_DATA, TEXT, Splits, load_splits
from tfclf.data.multilabel import as_label_sets
from tfclf.errors import TfclfError
from tfclf.labels import LabelVocabulary
from tfclf.outputs import OutputKind
from tfclf.progress import progress

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class BaselineConfig:
    """Hyperparameters of the baselines; the field names are the CLI flags."""

    label_descriptions: Optional[str] = field(
        None, "zero-shot: file of 'label: description' lines (or YAML, a list per label allowed).")
    label_template: str = field(
        "{label}", "zero-shot: text embedded for each label without a description, e.g. 'i feel {label}'.")
    zero_shot_temperature: float = field(
        0.05, "zero-shot: probabilities are softmax(cosine similarity / this); the argmax does not depend on it. "
        "Multi-label: sigmoid((cosine - --zero-shot-bias) / this).")
    zero_shot_bias: float = field(
        0.25, "zero-shot, multi-label: the cosine similarity at which a label's probability is 0.5, so at "
        "--threshold 0.5 a label is predicted when its description is at least this similar to the text. "
        "It depends on the encoder and the descriptions: 0.25 gave all-MiniLM-L6-v2 (mean pooling) its "
        "best micro-F1 with the bare label names on the bundled sample.")
    zero_shot_batch_size: int = field(64, "zero-shot: texts per encoder batch.")
    tfidf_ngram_max: int = field(1, "tfidf-logreg: word n-grams from 1 to this.")
    tfidf_min_df: int = field(1, "tfidf-logreg: ignore n-grams in fewer training texts than this.")
    tfidf_max_features: Optional[int] = field(200000, "tfidf-logreg: keep the most frequent n-grams only.")
    logreg_c: float = field(10.0, "tfidf-logreg: inverse L2 regularisation strength of LogisticRegression.")
    logreg_max_iter: int = field(2000, "tfidf-logreg: lbfgs iterations.")
    logreg_class_weight: Optional[str] = field(
        None, "tfidf-logreg: 'balanced' weighs classes by inverse frequency; none: unweighted.")

    def __post_init__(self) -> None:
        if "{label}" not in self.label_template:
            raise TfclfError("--label-template must contain '{label}'. "
                             f"Received: label_template={self.label_template!r}")
        if self.zero_shot_temperature <= 0:
            raise TfclfError(f"--zero-shot-temperature must be positive. Received: {self.zero_shot_temperature}")
        if not -1 <= self.zero_shot_bias <= 1:
            raise TfclfError(f"--zero-shot-bias must be a cosine similarity in [-1, 1]. "
                             f"Received: {self.zero_shot_bias}")
        for name in ("zero_shot_batch_size", "tfidf_ngram_max", "tfidf_min_df", "logreg_max_iter"):
            if getattr(self, name) < 1:
                raise TfclfError(f"--{name.replace('_', '-')} must be >= 1. Received: {getattr(self, name)}")
        if self.tfidf_max_features is not None and self.tfidf_max_features < 1:
            raise TfclfError(f"--tfidf-max-features must be >= 1. Received: {self.tfidf_max_features}")
        if self.logreg_c <= 0:
            raise TfclfError(f"--logreg-c must be positive. Received: {self.logreg_c}")
        if self.logreg_class_weight not in (None, "balanced"):
            raise TfclfError("--logreg-class-weight must be one of ['balanced', 'none']. "
                             f"Received: {self.logreg_class_weight!r}")


# A method: (train texts, train targets, texts to predict, label names, run config, baseline config)
# -> ([N, C] probabilities, {what was fitted or resolved, for metrics.json}). The targets are
# label ids [N] int64 (single-label: the rows of the probabilities sum to 1) or multi-hot
# [N, C] float32 (multi-label: one independent probability per label).
Method = Callable[[list[str], np.ndarray, list[str], Sequence[str], RunConfig, BaselineConfig],
                  tuple[np.ndarray, dict[str, Any]]]


def majority(train_texts, y_train, texts, label_names, config, baseline_config):
    """The training label frequencies for every text.

    Single-label: the argmax is the most frequent label. Multi-label: each label's
    probability is its share of the training rows that have it, so ``--threshold``
    predicts the labels whose share is at least the threshold (listed as
    ``majority_labels``).
    """
    if y_train.ndim == 2:
        prior = y_train.mean(axis=0, dtype=np.float64)
        chosen = [name for name, p in zip(label_names, prior) if p >= config.train.threshold]
        return np.tile(prior, (len(texts), 1)), {"majority_labels": chosen}
    prior = np.bincount(y_train, minlength=len(label_names)) / len(y_train)
    return np.tile(prior, (len(texts), 1)), {"majority_label": label_names[int(prior.argmax())]}


def tfidf_logreg(train_texts, y_train, texts, label_names, config, baseline_config):
    """TF-IDF n-grams + logistic regression, seeded with ``config.train.seed``.

    Multi-label: one-vs-rest, one binary logistic regression per label on the same
    features; a label with a single class in training (in every row or in none) gets
    that constant probability (1 or 0) and is listed as ``constant_labels``.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multioutput import MultiOutputClassifier

    bc = baseline_config
    vectorizer = TfidfVectorizer(ngram_range=(1, bc.tfidf_ngram_max), min_df=bc.tfidf_min_df,
                                 max_features=bc.tfidf_max_features, sublinear_tf=True, lowercase=True)
    logreg = LogisticRegression(C=bc.logreg_c, max_iter=bc.logreg_max_iter, class_weight=bc.logreg_class_weight,
                                random_state=config.train.seed)
    x_train = vectorizer.fit_transform(train_texts)
    x = vectorizer.transform(texts)
    details: dict[str, Any] = {"vocabulary_size": len(vectorizer.vocabulary_)}
    if y_train.ndim == 1:
        logreg.fit(x_train, y_train)
        probabilities = np.zeros((len(texts), len(label_names)))
        probabilities[:, logreg.classes_] = logreg.predict_proba(x)
        return probabilities, details
    positives = y_train.sum(axis=0)
    varies = (positives > 0) & (positives < len(y_train))
    # The share of a one-class label is exactly 0 or 1: what it would always predict.
    probabilities = np.tile(y_train.mean(axis=0, dtype=np.float64), (len(texts), 1))
    if varies.any():
        per_label = MultiOutputClassifier(logreg).fit(x_train, y_train[:, varies].astype(np.int64))
        probabilities[:, varies] = np.column_stack([p[:, 1] for p in per_label.predict_proba(x)])
    constant = [name for name, v in zip(label_names, varies) if not v]
    if constant:
        logger.warning("tfidf-logreg: label(s) %s are in every training row or in none; their probability "
                       "is that constant (1 or 0).", constant)
    details["constant_labels"] = constant
    return probabilities, details


def zero_shot(train_texts, y_train, texts, label_names, config, baseline_config):
    """Cosine similarity of L2-normalised encoder embeddings of the texts and label descriptions.

    Single-label: ``softmax(cosine / --zero-shot-temperature)``, so the nearest
    description wins. Multi-label: ``sigmoid((cosine - --zero-shot-bias) /
    --zero-shot-temperature)`` per label.
    """
    from tfclf import encoders

    bc = baseline_config
    mc = config.model
    resolved = encoders.resolve(mc.encoder, mc.preprocessor, seq_length=mc.seq_length, pooling=mc.pooling)
    if bc.label_descriptions:
        descriptions = read_label_descriptions(bc.label_descriptions, label_names)
    else:
        descriptions = {name: [label_text(name, bc.label_template)] for name in label_names}
    logger.info("zero-shot: %s (pooling %s) with label texts %s", resolved.encoder_handle,
                resolved.pooling.value, {k: v[:2] for k, v in descriptions.items()})
    embedder = SentenceEmbedder(resolved.encoder_path, resolved.preprocessor_path, resolved.seq_length,
                                resolved.pooling.value)
    label_vectors = []
    for name in label_names:
        vectors = embedder(descriptions[name], bc.zero_shot_batch_size)
        mean = vectors.mean(axis=0)
        label_vectors.append(mean / max(np.linalg.norm(mean), 1e-12))
    similarity = embedder(texts, bc.zero_shot_batch_size) @ np.stack(label_vectors).T
    details = {"encoder": resolved.encoder_handle, "pooling": resolved.pooling.value,
               "seq_length": resolved.seq_length, "label_texts": descriptions}
    if y_train.ndim == 2:
        return sigmoid_of_similarity(similarity, bc), details
    logits = similarity / bc.zero_shot_temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True), details


def sigmoid_of_similarity(similarity: np.ndarray, baseline_config: BaselineConfig) -> np.ndarray:
    """Multi-label zero-shot probabilities: ``sigmoid((cosine - bias) / temperature)``.

    Args:
        similarity: ``[N, C]`` cosine similarities of texts and label descriptions.
        baseline_config: ``zero_shot_bias`` and ``zero_shot_temperature``.

    Returns:
        ``[N, C] float64`` probabilities, 0.5 where the cosine equals the bias.
    """
    z = (np.asarray(similarity, dtype=np.float64) - baseline_config.zero_shot_bias) \
        / baseline_config.zero_shot_temperature
    # exp of a negative number only: no overflow for very dissimilar (or similar) texts.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


@dataclasses.dataclass(frozen=True)
class Baseline:
    """A registered baseline.

    Attributes:
        predict: the method: fits on the training split and predicts the evaluated one.
        config_prefixes: the ``BaselineConfig`` fields it reads (by prefix), recorded
            in metrics.json under ``baseline``.
    """

    predict: Method
    config_prefixes: tuple[str, ...] = ()


# Keyed by the names tfclf.config validates --baselines with; a test checks it covers them all.
METHODS: dict[BaselineMethod, Baseline] = {
    BaselineMethod.MAJORITY: Baseline(majority),
    BaselineMethod.TFIDF_LOGREG: Baseline(tfidf_logreg, ("tfidf_", "logreg_")),
    BaselineMethod.ZERO_SHOT: Baseline(zero_shot, ("label_", "zero_shot_")),
}


def get_method(name: Union[BaselineMethod, str]) -> Baseline:
    """Returns the baseline named ``name``.

    Raises:
        TfclfError: listing the valid names.
    """
    try:
        return METHODS[BaselineMethod(name)]
    except ValueError:
        raise TfclfError(f"--method must be one of {[m.value for m in BaselineMethod]}. "
                         f"Received: method={name!r}") from None


def label_text(name: str, template: str = "{label}") -> str:
    """The text embedded for a label without a description: ``billing_issue`` -> ``billing issue``."""
    return template.format(label=name.replace("_", " ").replace("-", " "))


def read_label_descriptions(path: str, label_names: Sequence[str]) -> dict[str, list[str]]:
    """Reads ``label: description`` lines, or YAML mapping labels to a description or a list of them.

    Returns:
        ``{label: [description, ...]}`` for every label in ``label_names``.

    Raises:
        TfclfError: missing file, a line without ``:``, a label the data does not
            have, or a label of the data without a description.
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise TfclfError(f"--label-descriptions: no such file: {str(p)!r}")
    text = p.read_text(encoding="utf-8")
    parsed: Optional[dict[str, list[str]]] = None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    # YAML turns keys like 0, yes or 1.5 into numbers and booleans; then read plain lines instead.
    if isinstance(data, dict) and all(isinstance(k, str) for k in data) and all(
            isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(x, str) for x in v))
            for v in data.values()):
        parsed = {k.strip(): [v] if isinstance(v, str) else list(v) for k, v in data.items()}
    lines: dict[str, int] = {}
    if parsed is None:
        parsed = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            label, sep, description = line.partition(":")
            if not sep or not label.strip() or not description.strip():
                raise TfclfError(f"{p}: line {number}: expected 'label: description'. Received: {line!r}")
            parsed.setdefault(label.strip(), []).append(description.strip())
            lines.setdefault(label.strip(), number)
    unknown = [k for k in parsed if k not in label_names]
    if unknown:
        where = f"{p}: line {lines[unknown[0]]}" if unknown[0] in lines else str(p)
        raise TfclfError(f"{where}: label {unknown[0]!r} does not occur in the training data. "
                         f"Labels: {list(label_names)}")
    missing = [name for name in label_names if name not in parsed]
    if missing:
        raise TfclfError(f"{p}: no description for label(s) {missing}. Every label needs one; "
                         f"labels: {list(label_names)}")
    return {name: parsed[name] for name in label_names}


class SentenceEmbedder:
    """Texts -> L2-normalised sentence vectors with a hub encoder and its preprocessor.

    Args:
        encoder_path: local TF Hub encoder folder.
        preprocessor_path: local TF Hub preprocessor folder.
        seq_length: tokens per text.
        pooling: ``pooled``, ``cls`` or ``mean`` (``tfclf.model.EncoderPooling``).
    """

    def __init__(self, encoder_path: str, preprocessor_path: str, seq_length: int, pooling: str):
        import tensorflow as tf
        import tensorflow_hub as hub
        import tf_keras

        from tfclf.model import INPUT_NAMES, EncoderPooling
        from tfclf.preprocessing import TextPreprocessor

        preprocess = TextPreprocessor(preprocessor_path, seq_length)
        inputs = {name: tf_keras.Input(shape=(None,), dtype=tf.int32, name=name) for name in INPUT_NAMES}
        outputs = hub.KerasLayer(encoder_path, trainable=False, name="encoder")(inputs)
        pooled = EncoderPooling(pooling, name="pooling")(outputs, inputs["input_mask"])
        model = tf_keras.Model(inputs, tf_keras.layers.UnitNormalization(name="l2_normalize")(pooled),
                               name="sentence_embedder")

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def embed(texts):
            features = preprocess(texts)
            # Pad each batch only to its longest text, as training does.
            length = tf.reduce_max(tf.reduce_sum(tf.cast(features["input_mask"], tf.int32), axis=1))
            features = {k: v[:, :length] for k, v in features.items()}
            return tf.cast(model(features, training=False), tf.float32)

        self._embed = embed

    def __call__(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """``N`` strings -> ``[N, H] float32`` unit vectors."""
        import tensorflow as tf

        texts = list(texts)
        starts = range(0, len(texts), batch_size)
        chunks = [self._embed(tf.constant(texts[i:i + batch_size], dtype=tf.string)).numpy()
                  for i in progress(starts, total=len(texts), desc="zero-shot: embedding", unit="texts",
                                    weight=lambda i: min(batch_size, len(texts) - i))]
        return np.concatenate(chunks)


# --------------------------------------------------------------------------------------- running

def eval_split_of(splits, config: Optional[RunConfig] = None) -> str:
    """The split a run evaluates on, as ``fit`` picks it: ``--eval-split``, else test, else
    validation, else train.

    Raises:
        TfclfError: ``--eval-split`` names a split these splits lack.
    """
    chosen = config.data.eval_split if config is not None else None
    if chosen is not None:
        if getattr(splits, chosen.value) is None:
            present = [s for s in ("train", "validation", "test") if getattr(splits, s) is not None]
            raise TfclfError(f"--eval-split {chosen.value}: the data has no {chosen.value} split. "
                             f"Splits present: {present}")
        return chosen.value
    return "test" if splits.test is not None else ("validation" if splits.validation is not None else "train")


def is_multi_label(splits: Splits, config: RunConfig) -> bool:
    """Multi-label when the config says so, or when the training labels are label sets.

    ``tfclf.data`` gives a multi-label example's label as a tuple of names (a
    single-label one's as a str), also when ``--task auto`` found lists in the data
    and the config passed along still says ``auto``.
    """
    return config.data.multi_label or any(isinstance(x, tuple) for x in splits.train[LABEL])


def label_vocabulary(train_labels: Sequence[Any], multi_label: bool) -> LabelVocabulary:
    """The vocabulary of the training labels, built as ``tfclf.data.prepare`` builds it.

    Args:
        train_labels: the training split's ``label`` column: names, or tuples of names.
        multi_label: the labels are label sets.

    Returns:
        ``LabelVocabulary`` of the sorted labels (multi-label: the sorted union of the sets).

    Raises:
        TfclfError: fewer than 2 labels, or a label with a line break.
    """
    if multi_label:
        return LabelVocabulary(name for names in as_label_sets(train_labels) for name in names)
    return LabelVocabulary(train_labels)


def encode_targets(labels: LabelVocabulary, values: Sequence[Any], multi_label: bool, *,
                   where: str) -> np.ndarray:
    """A split's labels -> ``[N] int64`` ids, or multi-hot ``[N, C] float32`` for label sets.

    Args:
        labels: the training vocabulary.
        values: the split's ``label`` column (a str in a multi-label split is a one-label set).
        multi_label: encode multi-hot.
        where: the split, for messages.

    Raises:
        TfclfError: a label that does not occur in the training data, naming it.
    """
    if not multi_label:
        return labels.encode(list(values), where=where)
    return labels.encode_sets(as_label_sets(values), where=where)


def run_baseline(method: Union[BaselineMethod, str], splits: Splits, config: RunConfig, out_dir: str | Path, *,
                 baseline_config: Optional[BaselineConfig] = None, plots: bool = True,
                 report: bool = True) -> dict[str, Any]:
    """Trains one baseline on ``splits.train``, evaluates it and writes metrics.json into ``out_dir``.

    Multi-label data (``is_multi_label``) is evaluated with ``multi_label=True`` and
    ``--threshold`` (``config.train.threshold``) as every label's threshold.

    Args:
        method: a ``BaselineMethod`` or its name.
        splits: ``tfclf.data.Splits`` (the same as ``fit`` used).
        config: the run config (seed; the encoder for zero-shot; ``data.multi_label``
            and ``train.threshold`` for multi-label data; ``train.bootstrap`` intervals,
            drawn with the seed).
        out_dir: folder for metrics.json (and the plots and report.md if asked).
        baseline_config: hyperparameters; default ``BaselineConfig()``.
        plots: write confusion_matrix.png and confidence_by_class.png.
        report: write report.md.

    Returns:
        The metrics.json payload, with ``method``, ``baseline`` (its hyperparameters),
        ``fit_seconds`` and ``predict_examples_per_sec``.

    Raises:
        TfclfError: unknown method, an evaluated label absent from training, bad descriptions,
            fewer than 2 training labels.
    """
    baseline = get_method(method)
    method = BaselineMethod(method).value
    bc = baseline_config or BaselineConfig()
    multi_label = is_multi_label(splits, config)
    labels = label_vocabulary(splits.train[LABEL].tolist(), multi_label)
    split = eval_split_of(splits, config)
    eval_df = getattr(splits, split)
    y_train = encode_targets(labels, splits.train[LABEL].tolist(), multi_label, where="train split")
    y_eval = encode_targets(labels, eval_df[LABEL].tolist(), multi_label, where=f"{split} split")
    start = time.perf_counter()
    probabilities, details = baseline.predict(splits.train[TEXT].tolist(), y_train, eval_df[TEXT].tolist(),
                                              labels.names, config, bc)
    seconds = time.perf_counter() - start
    used = baseline.config_prefixes
    hyper = {k: v for k, v in dataclasses.asdict(bc).items() if used and k.startswith(used)}
    hyper["seed"] = config.train.seed
    hyper.update(details)
    task: dict[str, Any] = {}
    if multi_label:
        task = {"multi_label": True, "threshold_strategy": ThresholdStrategy.FIXED,
                "thresholds": np.full(len(labels), config.train.threshold, dtype=np.float64)}
    metrics = evaluation.write_evaluation(
        out_dir, y_eval, probabilities, labels.names, split=split, plots=plots, report=report,
        title=f"{method} baseline",
        extra={"method": method, "baseline": hyper, "fit_predict_seconds": round(seconds, 3),
               "n_train": len(splits.train)}, bootstrap=config.train.bootstrap, bootstrap_seed=config.train.seed,
        groups=eval_df[EVAL_GROUP].tolist() if EVAL_GROUP in eval_df else None,
        group_by=config.data.eval_group_by, **task)
    if multi_label:
        logger.info("Baseline %s on the %s split: F1 micro %.4f, F1 macro %.4f, subset accuracy %.4f (%.1fs)",
                    method, split, metrics["f1_micro"], metrics["f1_macro"], metrics["subset_accuracy"], seconds)
    else:
        logger.info("Baseline %s on the %s split: accuracy %.4f, F1 macro %.4f (%.1fs)", method, split,
                    metrics["accuracy"], metrics["f1_macro"], seconds)
    return metrics


def run_baselines(methods: Sequence[str], splits: Splits, config: RunConfig, out_dir: str | Path, *,
                  baseline_config: Optional[BaselineConfig] = None) -> dict[str, dict[str, Any]]:
    """Runs several baselines into ``out_dir/<method>/metrics.json`` (what ``fit --baselines`` calls).

    report.md of the run then shows them beside the model (``tfclf.report.read_baselines``).
    A method whose metrics.json exists is not run again: a resumed ``fit`` reopens
    its folder only when the configuration is unchanged.

    Returns:
        ``{method: metrics}``.
    """
    out = Path(out_dir)
    results = {}
    for m in progress(methods, desc="baselines", unit="methods"):
        get_method(m)
        done = out / m / rundir.METRICS
        if done.is_file():
            logger.info("Baseline %s: reusing %s", m, done)
            results[m] = json.loads(done.read_text(encoding="utf-8"))
        else:
            results[m] = run_baseline(m, splits, config, out / m, baseline_config=baseline_config,
                                      plots=False, report=False)
    return results


def default_output_dir(method: Union[BaselineMethod, str]) -> Path:
    """``runs/baseline-<method>-<YYYYmmdd-HHMMSS>``."""
    return Path("runs") / f"baseline-{BaselineMethod(method).value}-{datetime.datetime.now():%Y%m%d-%H%M%S}"


def write_baseline(method: Union[BaselineMethod, str], config: RunConfig, *,
                   output_dir: Union[str, os.PathLike, None] = None, overwrite: bool = False,
                   baseline_config: Optional[BaselineConfig] = None) -> tuple[dict[str, Any], Path]:
    """Runs one baseline on ``config``'s data into a baseline folder (``python -m tfclf.baseline``).

    The folder is checked (``tfclf.outputs.check_dir``) before any data is read, and
    appears only once it is complete. Without data flags the bundled sample is used,
    as ``fit`` does.

    Args:
        method: a ``BaselineMethod`` or its name.
        config: the data flags, and ``train.seed`` for the splits and tfidf-logreg.
        output_dir: the folder; default ``default_output_dir(method)``.
        overwrite: replace an existing baseline folder.
        baseline_config: hyperparameters; default ``BaselineConfig()``.

    Returns:
        ``(metrics, folder)``: the metrics.json payload and where it was written.

    Raises:
        TfclfError: an unknown method, a folder that may not be written, bad data.
    """
    get_method(method)
    out = object_storage.check_dir(output_dir or default_output_dir(method), OutputKind.BASELINE,
                                   flag="--output-dir", overwrite=overwrite,
                                   inputs=[outputs.Input(flag, path) for flag, path in config.input_paths()])
    default_data = None
    if not (config.data.data or config.data.train):
        default_data = str(SAMPLE_DATA)
        logger.info("No data given: using the bundled sample %s", SAMPLE_DATA)
    splits = load_splits(config.data, config.train.seed, default_data=default_data)
    with object_storage.directory(out, OutputKind.BASELINE, flag="--output-dir", overwrite=overwrite,
                                  checked=True) as staged:
        metrics = run_baseline(method, splits, config, staged, baseline_config=baseline_config)
    return metrics, out
