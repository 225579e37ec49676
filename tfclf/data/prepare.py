"""Config -> ``PreparedData``: everything training needs from the data, in one call.

``prepare`` reads the inputs once, splits them, builds the label vocabulary, applies
``--dedupe`` and ``--limit-train``, computes class weights and the data report, and
raises ``TfclfError`` on bad input before anything is written.

Once the inputs are read, ``--task auto`` is resolved to single- or multi-label
(``tfclf.data.multilabel``), before splitting. The label checks before training (free
text, case, small classes, the evaluation split) are ``tfclf.data.label_checks``.
With ``--eval-group-by``, the examples of each evaluation group must share one label:
``prepare`` checks the evaluation split (``PreparedData.check_eval_groups``), so a run
never fails at its final evaluation over it, and ``PreparedData.groups(split)`` gives
each example's group, in dataset order, for ``tfclf.evaluation``. Without
``--group-column``, the column of ``--eval-group-by`` is the split group.
Then ``PreparedData.dataset(split, preprocess, ...)`` gives tf.data pipelines and
``write_report(path, preprocess)`` writes ``data_report.json``. Under multi-worker
training, ``dataset(..., file_shard=(i, n))`` is one worker's share of a split by input
file (``input_files`` counts them; see ``tfclf.distribute``): streamed, it opens only
that worker's files.

In memory or streamed:

* **In memory** (inputs up to ``--stream-threshold-mb``, or ``--no-stream``): examples
  are DataFrames; ratio splits are exactly stratified (multi-label: iteratively, see
  ``tfclf.data.splits``), or grouped.
* **Streamed** (larger inputs, or ``--stream``): ``prepare`` makes one pass in chunks
  to count labels, hash rows for the report and fix the splits; each epoch re-reads
  the files in chunks through ``tf.data.Dataset.from_generator``. A row's split comes
  from a seeded hash of its ``--group-column`` value or its text, so identical texts
  never straddle splits; with several examples per row (``--stack-text-columns``,
  ``--explode-text``) and no ``--group-column``, of the row (its source and line), so a
  row's examples stay together and identical texts of different rows may straddle
  splits (the report's ``duplicates.across`` counts them; ``--dedupe`` drops them).
  A row's examples are adjacent, so streamed they mix only within ``--shuffle-buffer``
  examples. Memory stays flat: a chunk, the shuffle buffer and a few prefetched
  batches; the report's per-row hashes go to temporary files (``tfclf.data.ledger``).
  Only ``--dedupe`` keeps 8 bytes per training row in memory, to drop validation/test
  rows whose text is in train; ``--eval-group-by`` reads the evaluation split once more
  and holds its groups and targets for the check below. Shuffling happens within
  ``--shuffle-buffer`` rows (class-folder trees are also read in a new file order
  each epoch), so shuffle a file that is sorted by label first; ``prepare`` warns
  when the training rows look sorted.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
from collections import Counter
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import pandas as pd

from tfclf.config import DataConfig, DataFormat, section_to_dict
from tfclf.data import label_checks, multilabel, pipeline, readers, report as report_lib
from tfclf.data.class_weights import class_weights, positive_weights
from tfclf.data.columns import EVAL_GROUP, GROUP, LABEL, LINE, TEXT, check_source_columns, to_examples
from tfclf.data.ledger import RowLedger, limit_threshold, row_masks
from tfclf.data.report import Tally
from tfclf.data.splits import (SPLIT_NAMES, Splits, assign_by_hash, hash_unit, split_frame,
                               stratified_sample_index, text_hashes)
from tfclf.errors import TfclfError
from tfclf.groups import check_labels
from tfclf.labels import LabelVocabulary
from tfclf.progress import progress

logger = logging.getLogger(__name__)

_MB = 1 << 20


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Which splits a source's rows go to, and in what fractions."""

    source: readers.Source
    splits: tuple[str, ...]
    fractions: tuple[float, ...]

    @property
    def given(self) -> bool:
        return len(self.splits) == 1


def _plans(sources: list[readers.Source], config: DataConfig) -> list[_Plan]:
    r_train, r_val, _ = config.split
    given = {s.split for s in sources}
    plans = []
    for s in sources:
        if s.split is None or (s.split == "train" and given == {"train"}):
            names = tuple(n for n, r in zip(SPLIT_NAMES, config.split) if r > 0)
            plans.append(_Plan(s, names, tuple(r for r in config.split if r > 0)))
        elif s.split == "train" and "validation" not in given and r_val > 0:
            plans.append(_Plan(s, ("train", "validation"),
                               (r_train / (r_train + r_val), r_val / (r_train + r_val))))
        else:
            plans.append(_Plan(s, (s.split,), (1.0,)))
    return plans


@dataclasses.dataclass
class _Stream:
    """What the per-epoch generator needs to reproduce the splits ``prepare`` counted."""

    plans: list[_Plan]
    label_ids: dict[Any, int]
    dedupe_sets: dict[str, np.ndarray]
    limit_threshold: Optional[float]


@dataclasses.dataclass
class PreparedData:
    """The data of a run, ready for training.

    Attributes:
        config: the data section it was prepared from, with ``task`` resolved (never
            ``auto``): the config a run should record.
        seed: split and shuffle seed.
        labels: vocabulary of the training labels (sorted; id = position).
        multi_label: targets are multi-hot ``[N, C] float32`` (else ids ``[N] int64``).
            The model then needs a sigmoid head and binary cross-entropy.
        streaming: rows are re-read from disk each epoch instead of held in memory.
        rows: final rows per present split.
        class_weight: ``{class id: weight}`` for Keras ``fit(class_weight=...)``, or None
            (always None for multi-label data).
        pos_weight: multi-label ``--class-weight``: ``[C] float32`` weights of each label's
            positive rows in its binary cross-entropy (``tfclf.data.class_weights``), or None.
        report: the data report (see ``tfclf.data.report``); token lengths are added
            by ``write_report``.
    """

    config: DataConfig
    seed: int
    labels: LabelVocabulary
    multi_label: bool
    streaming: bool
    rows: dict[str, int]
    class_weight: Optional[dict[int, float]]
    pos_weight: Optional[np.ndarray]
    report: dict[str, Any]
    _ledger: RowLedger
    _frames: dict[str, pd.DataFrame] = dataclasses.field(default_factory=dict)
    _stream: Optional[_Stream] = None
    _plans: list[_Plan] = dataclasses.field(default_factory=list)

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(s for s in SPLIT_NAMES if self.rows.get(s))

    @property
    def eval_split(self) -> str:
        """The split final metrics are computed on: ``--eval-split``, else test, else
        validation (``prepare`` refuses data with neither unless ``--eval-split train``)."""
        if self.config.eval_split is not None:
            return self.config.eval_split.value
        return next(s for s in ("test", "validation", "train") if s in self.split_names)

    def frame(self, split: str) -> pd.DataFrame:
        """In memory only: the split's examples (``text``, ``label``, ...)."""
        if self.streaming:
            raise TfclfError("frame() needs in-memory data; this input is streamed (--stream).")
        return self._frames[split]

    def encode(self, labels: list) -> np.ndarray:
        """Labels -> ``[N] int64`` ids, or ``[N, C] float32`` multi-hot for multi-label."""
        return self.labels.encode_sets(labels) if self.multi_label else self.labels.encode(labels)

    def chunks(self, split: str, shuffle_seed: Optional[int] = None
               ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields ``(texts [n] object, targets)`` of a split in chunks, in a fixed order."""
        if not self.streaming:
            df = self._frames[split]
            for begin in range(0, len(df), readers.CHUNK_ROWS):
                part = df.iloc[begin:begin + readers.CHUNK_ROWS]
                yield part[TEXT].to_numpy(), self.encode(part[LABEL].tolist())
            return
        yield from self._stream_chunks(split, shuffle_seed)

    def groups(self, split: str) -> np.ndarray:
        """``--eval-group-by``: ``[N] object`` the evaluation group of each example of a split, in
        dataset order (``shuffle=False``, as ``targets``); streamed, one more pass over the split.

        Raises:
            TfclfError: the config has no --eval-group-by.
        """
        if not self.config.eval_group_by:
            raise TfclfError("groups() needs --eval-group-by. Received: eval_group_by=None")
        if not self.streaming:
            return self._frames[split][EVAL_GROUP].to_numpy()
        parts = [g for _, _, g in self._stream_chunks(split, None, with_groups=True)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=object)

    def check_eval_groups(self) -> Optional[int]:
        """``--eval-group-by``: checks that the examples of each group of the evaluation split
        share one label, before training, so that the final evaluation cannot fail on it.

        Returns:
            The number of groups in the evaluation split; None without --eval-group-by.

        Raises:
            TfclfError: naming the split, the first group whose examples disagree and its labels.
        """
        if not self.config.eval_group_by:
            return None
        split = self.eval_split
        where = f"--eval-group-by {self.config.eval_group_by!r}, {split} split"
        if not self.streaming:
            df = self._frames[split]
            return check_labels(df[EVAL_GROUP].tolist(), df[LABEL].tolist(), where=where)
        groups, targets = [], []
        for _, y, g in self._stream_chunks(split, None, with_groups=True):
            groups.append(g)
            targets.append(y)
        if not groups:
            return 0
        y = np.concatenate(targets)
        names = self.labels.names
        labels = ([tuple(names[c] for c in np.flatnonzero(row)) for row in y] if self.multi_label
                  else [names[i] for i in y])
        return check_labels(np.concatenate(groups).tolist(), labels, where=where)

    def targets(self, split: str) -> np.ndarray:
        """All targets of a split, in dataset order (``shuffle=False``)."""
        if not self.streaming:
            return self.encode(self._frames[split][LABEL].tolist())
        parts = [y for _, y in self.chunks(split)]
        if parts:
            return np.concatenate(parts)
        return np.zeros((0, len(self.labels)) if self.multi_label else 0,
                        dtype=np.float32 if self.multi_label else np.int64)

    def input_files(self, split: str) -> int:
        """The input files a split's rows come from: each shard of a folder or glob pattern,
        each file of a class-folder tree, else 1 per input (the unit of ``file_shard``)."""
        return sum(_source_files(plan.source) for plan in self._split_plans(split))

    def dataset(self, split: str, preprocess, *, batch_size: int, shuffle: bool, seed: int,
                dynamic_padding: bool = True, length_grouping: str = "none", sort_window: int = 50,
                length_buckets: Sequence[int] = (), batch_windows: Optional[int] = None,
                file_shard: Optional[tuple[int, int]] = None):
        """A tf.data pipeline of ``(features, targets)`` for a split, or None if it is absent.

        Args:
            split: ``train``, ``validation`` or ``test``.
            preprocess: ``[batch] tf.string`` -> BERT input dict (``TextPreprocessor``).
            batch_size: examples per batch.
            shuffle: shuffle (training): in memory, a new permutation every epoch;
                streamed, a buffer of ``--shuffle-buffer`` rows.
            seed: shuffle seed.
            dynamic_padding: trim batches to their longest text.
            length_grouping, sort_window, length_buckets: batches of similar token length
                (``pipeline.make_dataset``); a streamed split cannot use ``buckets`` (its
                lengths are not known up front) and gets random batches instead.
            batch_windows: ``--long-text chunks``: the window budget of training batches
                (``pipeline.window_batches``; default ``batch_size``).
            file_shard: ``(index, count)``: only the rows of the input files ``j`` (numbered
                as ``input_files`` counts them) with ``j % count == index``: one worker's share
                under multi-worker training (``distribute.Distribution.file_shard``). Streamed,
                only those files are read; the dataset's length is then unknown.

        Returns:
            ``tf.data.Dataset`` of ``({input_word_ids, input_mask, input_type_ids}:
            [batch, <= seq_length] int32, targets [batch] int64 | [batch, C] float32)``.
        """
        if split not in self.split_names:
            return None
        if not self.streaming:
            df = self._frames[split]
            if file_shard is not None:
                index, count = file_shard
                (plan,) = self._split_plans(split)
                df = df[_file_of_rows(plan.source, df[LINE].to_numpy()) % count == index]
            texts, y = df[TEXT].to_numpy(), self.encode(df[LABEL].tolist())
            buffer = self.config.shuffle_buffer
            if shuffle:
                # Rows can arrive sorted by label (class folders); a buffer alone would not mix them.
                order = np.random.default_rng(seed).permutation(len(texts))
                texts, y, buffer = texts[order], y[order], max(buffer, len(texts))
            return pipeline.make_dataset(texts, y, preprocess, batch_size=batch_size, shuffle=shuffle,
                                         seed=seed, shuffle_buffer=buffer, dynamic_padding=dynamic_padding,
                                         length_grouping=length_grouping, sort_window=sort_window,
                                         length_buckets=length_buckets, batch_windows=batch_windows)
        if length_grouping == "buckets" and shuffle and dynamic_padding:
            logger.info("%s is streamed: batches are not bucketed by length (--length-grouping buckets "
                        "needs the split in memory; windows works streamed), only trimmed to their "
                        "longest text.", split)
            length_grouping = "none"
        epochs = itertools.count()

        def generate():
            return self._stream_chunks(split, seed + next(epochs) if shuffle else None, file_shard=file_shard)

        return pipeline.stream_dataset(
            generate, self.rows[split] if file_shard is None else None, preprocess, num_classes=len(self.labels),
            multi_label=self.multi_label, batch_size=batch_size, shuffle=shuffle, seed=seed,
            shuffle_buffer=self.config.shuffle_buffer, dynamic_padding=dynamic_padding,
            length_grouping=length_grouping, sort_window=sort_window, batch_windows=batch_windows)

    def splits(self) -> Splits:
        """In memory only: the splits as DataFrames (the ``load_splits`` result)."""
        return Splits(*(self._frames.get(s) if s in self.split_names else None for s in SPLIT_NAMES))

    def measure_lengths(self, preprocess=None, seq_length: Optional[int] = None) -> dict[str, Any]:
        """Sets ``report["lengths"]``: character and (with a preprocessor) token quantiles.

        Args:
            preprocess: a ``TextPreprocessor``; adds token-length quantiles per split.
            seq_length: truncation length for ``truncated_rate`` (default: the
                preprocessor's).
        """
        lengths = None
        if preprocess is not None:
            lengths = report_lib.preprocessor_lengths(preprocess)
            seq_length = seq_length or getattr(preprocess, "seq_length", None)
        self.report["lengths"] = report_lib.length_stats(self._ledger, lengths, seq_length,
                                                         getattr(preprocess, "long_text", None))
        return self.report["lengths"]

    def write_report(self, path, preprocess=None, seq_length: Optional[int] = None) -> dict[str, Any]:
        """Writes ``data_report.json`` atomically, with token lengths when given a preprocessor.

        Args:
            path: the JSON file, e.g. ``run_dir / "data_report.json"``.
            preprocess, seq_length: as in ``measure_lengths``.

        Returns:
            The report written.
        """
        self.measure_lengths(preprocess, seq_length)
        report_lib.write(self.report, path)
        return self.report

    # ---------------------------------------------------------------------- streaming

    def _split_plans(self, split: str) -> list[_Plan]:
        """The plans whose rows feed ``split``: in memory, the one it was split from."""
        plans = [plan for plan in self._plans if split in plan.splits]
        # _prepare_in_memory keeps a split of the last plan that names it.
        return plans if self.streaming else plans[-1:]

    def _stream_chunks(self, split: str, shuffle_seed: Optional[int], *, with_groups: bool = False,
                       file_shard: Optional[tuple[int, int]] = None):
        """Yields ``(texts, targets)`` of a split's chunks; with ``with_groups`` also their
        ``--eval-group-by`` groups; with ``file_shard`` (as in ``dataset``) only its files' rows."""
        st = self._stream
        first_file = 0  # the number of the plan's first file among the split's input files
        for plan in self._split_plans(split):
            files = None
            if file_shard is not None:
                index, count = file_shard
                n = _source_files(plan.source)
                files = [j for j in range(n) if (first_file + j) % count == index]
                first_file += n
                if not files:
                    continue
            order = None
            if shuffle_seed is not None and plan.source.format is DataFormat.FOLDERS:
                order = np.random.default_rng(shuffle_seed).permutation(len(plan.source.files))
            for chunk in _read_files(plan.source, self.config, files, order):
                examples = to_examples(chunk, plan.source, self.config, Tally())
                hashes = text_hashes(examples[TEXT].to_numpy())
                selected = _route(examples, hashes, plan, self.seed) == plan.splits.index(split)
                labels = examples[LABEL].to_numpy()
                known = np.fromiter((_label_known(x, st.label_ids) for x in labels), dtype=bool,
                                    count=len(labels))
                selected &= known
                if split in st.dedupe_sets:
                    selected &= ~np.isin(hashes, st.dedupe_sets[split])
                if split == "train" and st.limit_threshold is not None:
                    selected &= hash_unit(hashes, self.seed, stream=2) < st.limit_threshold
                if not selected.any():
                    continue
                texts = examples[TEXT].to_numpy()[selected]
                if self.multi_label:
                    y = self.encode(list(labels[selected]))
                else:
                    y = np.fromiter((st.label_ids[x] for x in labels[selected]), dtype=np.int64,
                                    count=int(selected.sum()))
                if with_groups:
                    yield texts, y, examples[EVAL_GROUP].to_numpy()[selected]
                else:
                    yield texts, y


def _source_files(source: readers.Source) -> int:
    """The input files of a source (``PreparedData.input_files``)."""
    if source.parts:
        return len(source.parts)
    if source.format is DataFormat.FOLDERS:
        return len(source.files)
    return 1


def _file_of_rows(source: readers.Source, lines: np.ndarray) -> np.ndarray:
    """The input file (numbered as ``_source_files`` counts them) of rows read from ``source``,
    from their ``RawChunk.lines``: the shard of a sharded input, the file of a class folder."""
    lines = np.asarray(lines, dtype=np.int64)
    if source.parts:
        return lines // readers.SHARD_STRIDE
    if source.format is DataFormat.FOLDERS:
        return lines
    return np.zeros(len(lines), dtype=np.int64)


def _read_files(source: readers.Source, config: DataConfig, files: Optional[Sequence[int]],
                order: Optional[np.ndarray]) -> Iterator[readers.RawChunk]:
    """``readers.iter_chunks`` of the input files ``files`` of ``source`` only (None: all of them),
    opening no other file; rows keep the numbers a read of the whole source gives them.

    Args:
        order: class folders: the order to read their files in (a permutation of all of them).
    """
    if files is None:
        yield from readers.iter_chunks(source, config, file_order=order)
    elif source.parts:
        for i in files:
            for chunk in readers.iter_chunks(source.parts[i], config):
                yield readers.RawChunk(chunk.frame, chunk.lines + i * readers.SHARD_STRIDE)
    elif source.format is DataFormat.FOLDERS:
        order = np.arange(len(source.files)) if order is None else order
        yield from readers.iter_chunks(source, config, file_order=order[np.isin(order, files)])
    else:
        yield from readers.iter_chunks(source, config)


def _label_known(label, ids: dict) -> bool:
    if isinstance(label, tuple):
        return all(x in ids for x in label)
    return label in ids


def _route(examples: pd.DataFrame, hashes: np.ndarray, plan: _Plan, seed: int) -> np.ndarray:
    """Split index (into plan.splits) of each row: by hash of its group, else of its text."""
    if plan.given:
        return np.zeros(len(examples), dtype=np.int8)
    keys = text_hashes(examples[GROUP].to_numpy()) if GROUP in examples else hashes
    return assign_by_hash(keys, plan.fractions, seed)


# ---------------------------------------------------------------------------------- prepare

def prepare(config: DataConfig, seed: int, default_data: Optional[str] = None) -> PreparedData:
    """Reads, splits and checks the data a config names.

    Args:
        config: the data section of the run config.
        seed: seed for ratio splits, ``--limit-train`` sampling and length samples.
        default_data: input used when the config names none (the bundled sample).

    Returns:
        ``PreparedData`` with vocabulary, counts, class weights, report and datasets.

    Raises:
        TfclfError: unreadable or unusable input, naming the file and line or column
            and what was expected. Nothing is written.
    """
    sources = readers.discover(config, default_data)
    for s in sources:
        check_source_columns(s, config)
    plans = _plans(sources, config)
    size = sum(s.size_bytes() for s in sources)
    streaming = config.stream if config.stream is not None else size > config.stream_threshold_mb * _MB
    if streaming:
        logger.info("Streaming the input in chunks (%.1f MB%s).", size / _MB,
                    "" if config.stream else f" > --stream-threshold-mb {config.stream_threshold_mb:g}")
    tally = Tally()
    ledger = RowLedger(config.length_sample, seed,
                       grouped=config.split_group_column is not None or config.several_examples_per_row)
    try:
        if streaming:
            prepared = _prepare_stream(config, seed, sources, plans, tally, ledger)
        else:
            prepared = _prepare_in_memory(config, seed, sources, plans, tally, ledger)
    finally:
        ledger.close()
    n_groups = prepared.check_eval_groups()
    if n_groups is not None:
        prepared.report["eval_groups"] = {"group_by": config.eval_group_by, "split": prepared.eval_split,
                                          "groups": n_groups}
        logger.info("--eval-group-by %s: %d groups in the %s split.", config.eval_group_by, n_groups,
                    prepared.eval_split)
    return prepared


def _examples(source: readers.Source, config: DataConfig, tally: Tally) -> Iterator[pd.DataFrame]:
    chunks = progress(readers.iter_chunks(source, config), desc=f"reading {source.describe()}", unit="rows",
                      weight=lambda chunk: len(chunk.frame))
    for chunk in chunks:
        yield to_examples(chunk, source, config, tally)
    multilabel.check_invalid_codes(source, config, tally)


def _nothing_left(source: readers.Source, tally: Tally) -> TfclfError:
    return TfclfError(
        f"{source.describe()}: no usable rows: every row has a blank text or label or was dropped "
        f"(dropped so far: {dict(tally.dropped)}). Expected non-blank text in {source.columns[:5]} "
        "columns named by --text-column and a label in --label-column.")


def _prepare_in_memory(config, seed, sources, plans, tally, ledger) -> PreparedData:
    read = []
    for plan in plans:
        parts = list(_examples(plan.source, config, tally))
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if df.empty:
            raise _nothing_left(plan.source, tally)
        read.append(df)
    config = multilabel.resolve_task(config, tally)  # before splitting: multi-label splits differ
    frames: dict[str, pd.DataFrame] = {}
    for plan, df in zip(plans, read):
        if config.multi_label:
            df[LABEL] = multilabel.as_label_sets(df[LABEL])
        if plan.given:
            frames[plan.splits[0]] = df
            continue
        parts = split_frame(df, plan.fractions, seed, grouped=GROUP in df, stratify=config.stratify,
                            groups_from="--group-column" if config.group_column else
                            "--eval-group-by" if config.split_group_column else
                            "the rows of --stack-text-columns/--explode-text")
        for name, part in zip(plan.splits, parts):
            if len(part):
                frames[name] = part
    hashes = {s: text_hashes(df[TEXT].to_numpy()) for s, df in frames.items()}
    codes = {s: ledger.add(s, df, hashes[s]) for s, df in frames.items()}
    labels, known, stats = _check_and_measure(ledger, plans, config)
    keep, dropped, _ = row_masks({s: (hashes[s], codes[s]) for s in frames}, known, config.dedupe)
    if config.limit_train is not None and len(frames["train"]) > config.limit_train:
        keep["train"] = np.zeros(len(frames["train"]), dtype=bool)
        keep["train"][stratified_sample_index(frames["train"], config.limit_train, seed)] = True
        dropped["limit_train"] = Counter(train=len(frames["train"]) - config.limit_train)
        logger.info("--limit-train: kept a stratified sample of %d training rows.", keep["train"].sum())
    final = {s: Counter(codes[s][keep[s]].tolist()) for s in frames if keep[s].any()}
    frames = {s: df[keep[s]].reset_index(drop=True) for s, df in frames.items() if s in final}
    return _finish(config, seed, sources, plans, tally, ledger, labels, stats, dropped, final,
                   streaming=False, frames=frames)


def _prepare_stream(config, seed, sources, plans, tally, ledger) -> PreparedData:
    for plan in plans:
        rows_before = sum(ledger.rows(s) for s in plan.splits)
        for examples in _examples(plan.source, config, tally):
            hashes = text_hashes(examples[TEXT].to_numpy())
            route = _route(examples, hashes, plan, seed)
            for j, split in enumerate(plan.splits):
                part = route == j
                ledger.add(split, examples[part], text_hash=hashes[part])
        if sum(ledger.rows(s) for s in plan.splits) == rows_before:
            raise _nothing_left(plan.source, tally)
    config = multilabel.resolve_task(config, tally)  # the epochs re-read with the resolved task
    if config.multi_label:
        ledger.label_values = list(multilabel.as_label_sets(ledger.label_values))
    labels, known, stats = _check_and_measure(ledger, plans, config)
    code_counts = {s: Counter(ledger.counts[s]) for s in ledger.splits}
    dropped: dict[str, Counter] = {}
    against: dict[str, list[np.ndarray]] = {}
    for part in ledger.partitions():  # every copy of a text is in the same partition
        keep, part_dropped, part_against = row_masks(part, known, config.dedupe)
        for reason, per_split in part_dropped.items():
            dropped.setdefault(reason, Counter()).update(per_split)
        for split, (_, codes) in part.items():
            code_counts[split].subtract(Counter(codes[~keep[split]].tolist()))
        for split, hashes in part_against.items():
            against.setdefault(split, []).append(hashes)
    threshold = None
    if config.limit_train is not None and sum(code_counts["train"].values()) > config.limit_train:
        threshold = limit_threshold(ledger, config.limit_train, seed)
        kept = Counter()
        for part in ledger.partitions():
            if "train" in part:
                text, codes = part["train"]
                kept.update(codes[hash_unit(text, seed, stream=2) < threshold].tolist())
        dropped["limit_train"] = Counter(train=sum(code_counts["train"].values()) - sum(kept.values()))
        code_counts["train"] = kept
        logger.info("--limit-train: kept a random sample of %d training rows.", sum(kept.values()))
    final = {s: +c for s, c in code_counts.items() if sum((+c).values())}
    if ledger.rows("train") > config.shuffle_buffer:
        _warn_if_sorted(ledger, config)
    stream = _Stream(plans, {name: i for i, name in enumerate(labels.names)},
                     {s: np.concatenate(a) for s, a in against.items()}, threshold)
    return _finish(config, seed, sources, plans, tally, ledger, labels, stats, dropped, final,
                   streaming=True, stream=stream)


def _check_and_measure(ledger: RowLedger, plans: list[_Plan], config: DataConfig):
    """Vocabulary, known label codes and duplicate/group statistics, before any row is dropped."""
    if not ledger.rows("train"):
        raise TfclfError(f"{plans[0].source.describe()}: the training split is empty; "
                         f"--split {','.join(f'{r:g}' for r in config.split)} left no training rows.")
    names = sorted(ledger.label_counts(ledger.counts["train"]))
    label_checks.check_free_text(ledger, plans[0].source.describe(), config, names)
    label_checks.warn_case_variants(ledger)
    if len(names) < 2:
        raise TfclfError(
            f"{plans[0].source.describe()}: the training data has {len(names)} class(es) {names[:5]}; "
            f"a classifier needs at least 2. Check --label-column (now {list(config.label_column)}), "
            "--label-map and --where.")
    labels = LabelVocabulary(names)
    known = np.array([_label_known(v, set(names)) for v in ledger.label_values], dtype=bool)
    for plan in plans:
        if not plan.given or plan.splits[0] == "train":
            continue
        split = plan.splits[0]
        bad = [c for c in ledger.counts.get(split, {}) if not known[c]]
        if bad:
            code = min(bad, key=lambda c: ledger.first_seen[(split, c)])
            value = ledger.label_values[code]
            unknown = [x for x in (value if isinstance(value, tuple) else (value,)) if x not in names]
            raise TfclfError(
                f"{plan.source.locate(ledger.first_seen[(split, code)])}: label {unknown[0]!r} in the "
                f"{split} split does not occur in the training data. Training labels: {names}. Fix the "
                "label, or map it with --label-map old=new (or old=drop).")
    stats: dict[str, Any] = {"duplicates": ledger.duplicates()}
    if config.split_group_column or config.several_examples_per_row:
        stats["groups_in_multiple_splits"], stats["groups"] = ledger.groups_in_multiple_splits()
    return labels, known, stats


def _finish(config, seed, sources, plans, tally, ledger, labels, stats, dropped, final, *, streaming,
            frames=None, stream=None) -> PreparedData:
    for reason, per_split in dropped.items():
        tally.drop(reason, sum(per_split.values()))
        if reason == "label_not_in_train" and sum(per_split.values()):
            logger.warning("Dropped rows whose label does not occur in the training split: %s",
                           dict(+per_split))
    # ``final`` counts rows per label code; each row has one code (a label, or a set of labels).
    rows = {s: sum(final[s].values()) for s in SPLIT_NAMES if s in final}
    sets = {s: multilabel.cardinality(ledger.label_values, final[s]) for s in rows} if config.multi_label else {}
    final = {s: ledger.label_counts(final[s]) for s in rows}
    label_checks.check_splits(config, plans[0].source.describe(), rows, final["train"],
                              stratified=not streaming and config.stratify and any(not p.given for p in plans))
    weights, pos_weight = None, None
    if config.multi_label:
        pos_weight = positive_weights(config.class_weight, final["train"], rows["train"], labels)
    else:
        weights = class_weights(config.class_weight, final["train"], labels)
    removed = dict(+dropped.get("duplicate_across_splits", Counter()))
    report: dict[str, Any] = {
        "inputs": [{"role": s.role, "path": str(s.path), "format": s.format.value,
                    "split": s.split or "by --split", "rows_read": tally.read[s.describe()]}
                   for s in sources],
        "streaming": streaming,
        "multi_label": config.multi_label,
        "labels": list(labels.names),
        "splits": {s: {"rows": rows[s], "labels": {k: final[s][k] for k in sorted(final[s])}, **sets.get(s, {})}
                   for s in rows},
        "dropped": dict(sorted(tally.dropped.items())),
        "relabelled": dict(sorted(tally.relabelled.items())),
        "normalised_labels": dict(sorted(tally.normalised.items())),
        "cleaning": dict(tally.cleaned),
        "duplicates": {**stats["duplicates"], "removed_by_dedupe": removed},
        "dedupe": config.dedupe,
        "class_weight": ({labels.names[i]: round(w, 6) for i, w in weights.items()} if weights else None),
        "seed": seed,
        "config": section_to_dict(config),
    }
    if tally.examples:
        report["drop_examples"] = tally.drop_examples()
    if config.multi_label:
        report["pos_weight"] = (None if pos_weight is None else
                                dict(zip(labels.names, np.round(pos_weight, 6).tolist())))
        if tally.label_list:
            report["label_lists"] = tally.label_list  # why --task auto became multi-label
    if config.split_group_column:
        report["groups_in_multiple_splits"] = stats["groups_in_multiple_splits"]
        report["groups"] = stats["groups"]
        if tally.blank_groups:
            report["blank_groups"] = tally.blank_groups
    if config.several_examples_per_row:
        report["rows_to_examples"] = tally.rows_to_examples(
            stacked=config.text_column if config.stack_text_columns else (),
            exploded=config.explode_text is not None)
        if not config.split_group_column:  # the rows are the groups
            report["rows_to_examples"].update(rows_in_multiple_splits=stats["groups_in_multiple_splits"],
                                              rows_per_split=stats["groups"])
    report["lengths"] = report_lib.length_stats(ledger)
    tally.log()
    for s in rows:
        logger.info("%s: %d rows, labels %s", s, rows[s], dict(sorted(final[s].items())))
    return PreparedData(config=config, seed=seed, labels=labels, multi_label=config.multi_label,
                        streaming=streaming, rows=rows, class_weight=weights, pos_weight=pos_weight,
                        report=report,
                        _ledger=ledger, _frames=frames or {}, _stream=stream, _plans=plans)


def _warn_if_sorted(ledger: RowLedger, config: DataConfig) -> None:
    counts = np.array(list(ledger.counts["train"].values()), dtype=np.float64)
    p = counts / counts.sum()
    # Per row, not per example: the examples of a row (--stack-text-columns, --explode-text)
    # are adjacent and share its label however the file is ordered.
    expected = (ledger.train_row_runs - 1) * (1 - (p ** 2).sum())
    if expected > 0 and ledger.label_changes < 0.1 * expected:
        logger.warning(
            "The training rows look sorted by label (%d label changes in %d rows; random order "
            "would give about %d). Streaming shuffles only within --shuffle-buffer %d rows: "
            "shuffle the file first or raise --shuffle-buffer.", ledger.label_changes,
            ledger.train_row_runs, expected, config.shuffle_buffer)


# ---------------------------------------------------------------------- in-memory shortcuts

def load_splits(config: DataConfig, seed: int, default_data: Optional[str] = None) -> Splits:
    """Reads the configured inputs into memory and returns train/validation/test DataFrames.

    ``Splits`` do not say which task they hold, so callers go by ``config.multi_label``:
    data that only turns out multi-label when read (lists under ``--task auto``) is
    an error here, asking for ``--task multi-label``.

    Raises:
        TfclfError: on unreadable inputs, splits too small to use, or lists in the label
            column that the config did not declare multi-label.
    """
    prepared = prepare(dataclasses.replace(config, stream=False), seed, default_data)
    if prepared.multi_label and not config.multi_label:
        raise TfclfError(
            f"{prepared.report['label_lists']}, so the data is multi-label; pass --task multi-label "
            "to say so. Received: task='auto'")
    return prepared.splits()


def read_examples(path: str, config: DataConfig, *, role: str = "--data") -> pd.DataFrame:
    """Reads one file or folder (all its splits) into a DataFrame of ``text``, ``label`` (, ``group``).

    Args:
        path: a file or folder in any supported format.
        config: columns, delimiter, encoding, cleaning.
        role: the flag the path came from, used in messages.

    Raises:
        TfclfError: missing or empty input, missing columns, undecodable bytes,
            ragged rows, or no usable rows.
    """
    tally = Tally()
    frames = []
    for source in readers.sources_for(path, role, config):
        check_source_columns(source, config)
        frames.extend(_examples(source, config, tally))
        if not sum(map(len, frames)):
            raise _nothing_left(source, tally)
    tally.log()
    df = pd.concat(frames, ignore_index=True).drop(columns=[LINE])
    if multilabel.resolve_task(config, tally).multi_label:
        df[LABEL] = multilabel.as_label_sets(df[LABEL])
    return df
