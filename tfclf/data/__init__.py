"""Files (on disk or a store) -> examples -> splits -> tf.data of (token ids, label), with a data report.

Modules, one concept each:

* ``filesystem``: where files live: local paths and any ``tf.io.gfile`` store
  (``gs://``); opening (``.gz`` decompressed), listing, globs, and the copies
  ``tfclf.object_storage`` publishes outputs with;
* ``compression``: gzip inputs: the format-giving suffix (``a.csv.gz`` is a ``.csv``)
  and the message for a corrupt or truncated stream;
* ``readers``: formats (class folders, delimited, parallel, JSONL, Parquet) and
  layouts (given splits, shards, glob patterns), read in chunks;
* ``delimited``: delimited files: the delimiter, the CSV records and the header rule,
  shared by ``readers`` and ``inputs``;
* ``columns``: rows -> examples (text columns, labels, multi-label, ``--label-map``,
  ``--where``, blank rows, several examples per row);
* ``multilabel``: ``--task`` resolved from the data, ``--label-axes`` codes -> label
  sets, label cardinality;
* ``cleaning``: opt-in text cleaning steps;
* ``splits``: stratified (multi-label: iterative stratification), grouped and hash splits;
* ``label_checks``: free-text labels, case variants, small classes, the evaluation split;
* ``class_weights``: ``--class-weight`` (multi-label: per-label positive weights);
* ``ledger``: per-row hashes spilled to disk: duplicates, group leaks, ``--dedupe``;
* ``report``: counts, drops, duplicates and lengths -> ``data_report.json``;
* ``pipeline``: tf.data pipelines (in memory or streamed), tokenisation inside;
* ``prepare``: config -> ``PreparedData``, the one call training makes;
* ``inputs``: an input file -> streaming rows of any columns, for prediction and
  explanation, read by ``readers``' rules;
* ``__main__``: ``python -m tfclf.data``, the report on its own.

``SAMPLE_DATA`` is the bundled sample (support tickets) that ``fit`` and ``baseline``
read when no input is given.
"""
from pathlib import Path

from tfclf.data.columns import EVAL_GROUP, GROUP, LABEL, TEXT
from tfclf.data.pipeline import (bucket_bounds, bucketed_batches, make_dataset, stream_dataset,
                                 token_lengths, trim_to_longest)
from tfclf.data.prepare import PreparedData, load_splits, prepare, read_examples
from tfclf.data.readers import Source, delimiter_for, discover
from tfclf.data.splits import (SPLIT_NAMES, Splits, group_split, random_split, stratified_sample,
                               stratified_split)

SAMPLE_DATA = Path(__file__).parent.parent / "resources" / "support_tickets.csv"

__all__ = [
    "EVAL_GROUP", "GROUP", "LABEL", "PreparedData", "SAMPLE_DATA", "SPLIT_NAMES", "Source", "Splits", "TEXT",
    "bucket_bounds", "bucketed_batches", "delimiter_for", "discover", "group_split", "load_splits",
    "make_dataset", "prepare", "random_split", "read_examples", "stratified_sample",
    "stratified_split", "stream_dataset", "token_lengths", "trim_to_longest",
]
