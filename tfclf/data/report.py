"""The data report: what was read, dropped, changed and split, and how the splits leak.

``data_report.json`` (written by ``python -m tfclf.data`` and by ``fit`` into its run
directory) has these top-level keys:

* ``splits``: ``{split: {"rows": int, "labels": {label: count}}}``; multi-label:
  ``labels`` counts the rows carrying each label, and each split also has
  ``label_cardinality`` (mean labels per row) and ``rows_without_labels``;
* ``dropped``: ``{reason: rows}``; reasons are ``where``, ``blank_label`` (an empty
  label cell), ``missing_label`` (NaN, null, None: see ``tfclf.data.columns``),
  ``invalid_code`` (a code ``--label-axes`` cannot read: see ``tfclf.data.multilabel``),
  ``label_map``, ``blank_text``, ``max_examples_per_row``, ``label_not_in_train``,
  ``duplicate_across_splits`` (``--dedupe``) and ``limit_train``; ``drop_examples``:
  ``{reason: first row}``, for the reasons that name one (``invalid_code``:
  ``"d.csv: line 7: 'INXJ'"``). With several examples per row, the reasons from
  ``blank_text`` on count examples, the others rows;
* ``rows_to_examples`` (``--stack-text-columns``, ``--explode-text`` only): ``rows``
  (rows that reached the text step, after the label and ``--where`` drops), ``examples``
  (the examples they gave, before the split-level drops), ``examples_per_column``
  (``--stack-text-columns``: ``{column: examples}``), ``rows_exploded`` (rows with a text
  that held the ``--explode-text`` separator) and ``blank_parts`` (blank parts skipped)
  for ``--explode-text``; without ``--group-column``, ``rows_in_multiple_splits`` (0: a
  row's examples share a split) and ``rows_per_split`` (distinct rows per split, before
  ``--dedupe``). ``splits`` and ``duplicates`` count examples;
* ``multi_label`` and, multi-label only, ``pos_weight`` (``{label: weight}`` of
  ``--class-weight``, or None) and ``label_lists`` (the first label cell that was a
  list, when lists made ``--task auto`` multi-label);
* ``normalised_labels``: ``{"1.0 -> 1": rows}``, numeric labels rewritten to one
  spelling so that ``1`` and ``1.0`` are one class;
* ``duplicates``: exact duplicate texts, measured on the splits before ``--dedupe``:
  ``within`` each split (``extra_copies`` = rows minus distinct texts,
  ``conflicting_labels`` = texts that occur with several labels) and ``across``
  pairs of splits (distinct texts in both);
* ``groups_in_multiple_splits``: groups seen in more than one split, before
  ``--dedupe`` (with ``--group-column``, or without it the column of ``--eval-group-by``;
  0 unless given splits leak), and ``groups``, distinct groups per split;
* ``eval_groups`` (``--eval-group-by`` only): ``{group_by, split, groups}``, the
  evaluation groups of the evaluated split;
* ``inputs``, ``relabelled``, ``cleaning``, ``labels``, ``multi_label``,
  ``streaming``, ``class_weight`` and ``lengths`` (quantiles of characters and, with
  an encoder, of tokens per text, and the share truncated at ``seq_length``).

Rows are compared through ``tfclf.data.ledger``, which spills 64-bit hashes to
temporary files, so the report of a streamed input needs no more memory than a chunk.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np

from tfclf import atomic
from tfclf.config import LongText
from tfclf.long_text import LongTextSpec

if TYPE_CHECKING:
    from tfclf.data.ledger import RowLedger

logger = logging.getLogger(__name__)

QUANTILES = (0.5, 0.9, 0.95, 0.99)


@dataclasses.dataclass
class Tally:
    """Counts of rows read, dropped (per reason), relabelled and changed by cleaning."""

    read: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    dropped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    relabelled: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    cleaned: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    normalised: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    blank_groups: int = 0
    # (reason, source) -> rows and the first such row, located: "d.csv: line 7: 'INXJ'".
    dropped_from: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    examples: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    # source -> --label-axes codes read (valid or not), for --max-invalid-codes.
    codes: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    label_list: Optional[str] = None  # the first list label cell, located (--task auto -> multi-label)
    # --stack-text-columns / --explode-text: rows turned into examples, and how.
    rows_expanded: int = 0
    examples_made: int = 0
    examples_per_column: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    rows_exploded: int = 0  # rows with a text that held the --explode-text separator
    blank_parts: int = 0  # blank parts between separators, skipped
    blank_label_sets: bool = False  # multi-label rows dropped for a blank label (--blank-labels drop)

    def drop(self, reason: str, n: int = 1, *, source: Optional[str] = None,
             example: Optional[str] = None) -> None:
        """Counts n rows dropped for ``reason``; with ``source``, also per source, with an example."""
        if n:
            self.dropped[reason] += n
            if source is not None:
                self.dropped_from[(reason, source)] += n
                if example is not None:
                    self.examples.setdefault((reason, source), example)

    def drop_examples(self) -> dict[str, str]:
        """{reason: the first dropped row recorded for it, located}."""
        out: dict[str, str] = {}
        for (reason, _), example in self.examples.items():
            out.setdefault(reason, example)
        return dict(sorted(out.items()))

    def rows_to_examples(self, *, stacked: tuple[str, ...] = (), exploded: bool) -> dict[str, Any]:
        """The report's ``rows_to_examples`` section (see the module docstring).

        Args:
            stacked: the --stack-text-columns columns, in order (empty: joined columns).
            exploded: --explode-text is given.
        """
        out: dict[str, Any] = {"rows": self.rows_expanded, "examples": self.examples_made}
        if stacked:
            out["examples_per_column"] = {c: self.examples_per_column[c] for c in stacked}
        if exploded:
            out.update(rows_exploded=self.rows_exploded, blank_parts=self.blank_parts)
        return out

    def relabel(self, old: str, new: Optional[str]) -> None:
        self.relabelled[f"{old} -> {new if new is not None else 'drop'}"] += 1

    def normalise(self, old: str, new: str) -> None:
        self.normalised[f"{old} -> {new}"] += 1

    def log(self) -> None:
        if self.normalised:
            shown = dict(sorted(self.normalised.items())[:10])
            logger.warning("Numeric labels rewritten to one spelling (so that 1 and 1.0 are one class): "
                           "%s%s", shown, " ..." if len(self.normalised) > 10 else "")
        if self.dropped:
            examples = self.drop_examples()
            logger.warning("Dropped rows: %s%s", dict(sorted(self.dropped.items())),
                           "".join(f"; {k}, e.g. {v}" for k, v in examples.items()))
            if self.blank_label_sets:
                logger.warning("%d multi-label row(s) had a blank label cell and were dropped as missing "
                               "labels. If a blank cell means that no label applies, pass --blank-labels "
                               "empty to keep them with an empty label set.", self.dropped["blank_label"])
        if self.relabelled:
            logger.warning("Relabelled (--label-map): %s", dict(sorted(self.relabelled.items())))
        if self.cleaned:
            logger.info("Cleaning changed rows: %s", dict(self.cleaned))
        if self.blank_groups:
            logger.warning("%d rows have a blank --group-column value; each is grouped by its text "
                           "(with several examples per row: by its row).", self.blank_groups)
        if self.rows_expanded:
            logger.info("Several examples per row: %d rows -> %d examples%s%s.", self.rows_expanded,
                        self.examples_made,
                        f", per column {dict(self.examples_per_column)}" if self.examples_per_column else "",
                        f", {self.rows_exploded} rows exploded ({self.blank_parts} blank parts skipped)"
                        if self.rows_exploded or self.blank_parts else "")


def _quantiles(values: np.ndarray) -> dict[str, float]:
    if not len(values):
        return {}
    out = {f"p{int(q * 100)}": float(np.quantile(values, q)) for q in QUANTILES}
    out.update(mean=round(float(values.mean()), 2), max=int(values.max()))
    return out


def long_text_stats(wordpieces: np.ndarray, spec: LongTextSpec) -> dict[str, Any]:
    """What each ``--long-text`` mode keeps of texts of ``wordpieces`` ``[N]`` (no [CLS]/[SEP]).

    Returns:
        ``windows_per_document``: how many texts need 1, 2, ... windows under
        ``spec``'s ``--chunk-stride`` and ``--max-chunks`` (keys are window counts);
        ``windows_mean``; ``dropped_token_share``: per mode, the share of all the
        wordpieces that the encoder never sees (truncate and head-tail drop as many:
        the tail, or the middle).
    """
    chunks = dataclasses.replace(spec, mode=LongText.CHUNKS)
    windows = chunks.windows(wordpieces)
    total = max(int(np.sum(wordpieces)), 1)
    return {
        "windows_per_document": {str(k): int(v) for k, v in
                                 zip(*np.unique(windows, return_counts=True))},
        "windows_mean": round(float(windows.mean()), 3) if len(windows) else 0.0,
        "dropped_token_share": {
            mode.value: round(float(dataclasses.replace(spec, mode=mode).dropped(wordpieces).sum()) / total, 4)
            for mode in LongText},
        "long_text": {"head_tokens": spec.head_tokens, "chunk_stride": spec.chunk_stride,
                      "max_chunks": spec.max_chunks},
    }


def length_stats(ledger: "RowLedger", token_lengths: Optional[Callable[[list[str]], np.ndarray]] = None,
                 seq_length: Optional[int] = None, long_text: Optional[LongTextSpec] = None
                 ) -> dict[str, Any]:
    """Character (and token) length quantiles of each split's sample.

    Args:
        ledger: holds the sampled texts.
        token_lengths: maps N texts to [N] token counts with [CLS] and [SEP] (e.g.
            ``TextPreprocessor.token_lengths``), or None for characters only.
        seq_length: the truncation length to report the truncated share at.
        long_text: with token lengths, adds ``long_text_stats`` at its settings.
    """
    out = {}
    for split in ledger.splits:
        texts = ledger.sample(split)
        stats: dict[str, Any] = {"sample_rows": len(texts),
                                 "chars": _quantiles(np.fromiter(map(len, texts), dtype=np.int64,
                                                                 count=len(texts)))}
        if token_lengths is not None and texts:
            tokens = np.asarray(token_lengths(texts))
            stats["tokens"] = _quantiles(tokens)
            if seq_length:
                stats["seq_length"] = int(seq_length)
                stats["truncated_rate"] = round(float((tokens > seq_length).mean()), 4)
            if long_text is not None:
                stats.update(long_text_stats(np.maximum(tokens - 2, 0), long_text))
        out[split] = stats
    return out


def preprocessor_lengths(preprocess, batch_size: int = 256) -> Callable[[list[str]], np.ndarray]:
    """Wraps ``TextPreprocessor.token_lengths`` to take a list of any length."""
    import tensorflow as tf

    def lengths(texts: list[str]) -> np.ndarray:
        out = [preprocess.token_lengths(tf.constant(texts[i:i + batch_size])).numpy()
               for i in range(0, len(texts), batch_size)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    return lengths


def write(report: dict[str, Any], path: str | os.PathLike) -> None:
    """Writes the report as indented JSON, atomically."""
    atomic.write_text(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def format_summary(report: dict[str, Any]) -> str:
    """A human-readable summary: rows per split x label, drops, duplicates, lengths."""
    splits = report["splits"]
    labels = report["labels"]
    names = list(splits)
    width = max([len(str(x)) for x in labels] + [5]) + 2
    lines = [f"{'label':<{width}}" + "".join(f"{n:>12}" for n in names)]
    for label in labels:
        lines.append(f"{label:<{width}}" + "".join(
            f"{splits[n]['labels'].get(label, 0):>12}" for n in names))
    lines.append(f"{'rows':<{width}}" + "".join(f"{splits[n]['rows']:>12}" for n in names))
    out = ["Rows per split and label" + (" (multi-label: rows carrying the label)"
                                         if report.get("multi_label") else "") + ":", *lines]
    if report.get("multi_label"):
        out.append("Label cardinality (mean labels per row; rows without labels): " + ", ".join(
            f"{n} {splits[n].get('label_cardinality', 0):.2f} ({splits[n].get('rows_without_labels', 0)})"
            for n in names))
    dropped = report.get("dropped") or {}
    examples = report.get("drop_examples") or {}
    out.append("Dropped: " + (", ".join(f"{k} {v}" + (f" (e.g. {examples[k]})" if k in examples else "")
                                        for k, v in dropped.items()) if dropped else "none"))
    if report.get("normalised_labels"):
        out.append("Numeric labels normalised: " + ", ".join(
            f"{k} ({v})" for k, v in report["normalised_labels"].items()))
    if report.get("relabelled"):
        out.append("Relabelled: " + ", ".join(f"{k} ({v})" for k, v in report["relabelled"].items()))
    if report.get("cleaning"):
        out.append("Cleaning changed: " + ", ".join(f"{k} {v}" for k, v in report["cleaning"].items()))
    dup = report["duplicates"]
    out.append("Duplicate texts within splits (extra copies / texts with conflicting labels): " + ", ".join(
        f"{s} {d['extra_copies']}/{d['conflicting_labels']}" for s, d in dup["within"].items()))
    if dup["across"]:
        out.append("Texts in two splits: " + ", ".join(f"{k} {v}" for k, v in dup["across"].items())
                   + ("" if report.get("dedupe") else "  (--dedupe drops them from validation/test)"))
    if "rows_to_examples" in report:
        r = report["rows_to_examples"]
        line = f"Several examples per row: {r['rows']} rows -> {r['examples']} examples"
        if "examples_per_column" in r:
            line += " (per column: " + ", ".join(f"{k} {v}" for k, v in r["examples_per_column"].items()) + ")"
        if "rows_exploded" in r:
            line += f"; rows exploded {r['rows_exploded']}, blank parts skipped {r['blank_parts']}"
        if "rows_in_multiple_splits" in r:
            line += f"; rows in more than one split: {r['rows_in_multiple_splits']}"
        out.append(line)
    if "groups_in_multiple_splits" in report:
        out.append(f"Groups in more than one split: {report['groups_in_multiple_splits']} "
                   f"(groups per split: {report.get('groups', {})})")
    if "eval_groups" in report:
        g = report["eval_groups"]
        out.append(f"Evaluation groups (--eval-group-by {g['group_by']}): {g['groups']} in the {g['split']} split")
    for split, stats in (report.get("lengths") or {}).items():
        line = f"Length of {split} texts (sample of {stats['sample_rows']}): chars p50 " \
               f"{stats['chars'].get('p50', 0):.0f} p95 {stats['chars'].get('p95', 0):.0f}"
        if "tokens" in stats:
            t = stats["tokens"]
            line += (f"; tokens p50 {t['p50']:.0f} p90 {t['p90']:.0f} p95 {t['p95']:.0f} "
                     f"p99 {t['p99']:.0f} max {t['max']}")
            if "truncated_rate" in stats:
                line += f"; truncated at {stats['seq_length']}: {100 * stats['truncated_rate']:.1f}%"
        out.append(line)
        if "windows_per_document" in stats:
            lt, dropped = stats["long_text"], stats["dropped_token_share"]
            out.append(
                f"  {split}: windows per text with --long-text chunks (stride {lt['chunk_stride']}, "
                f"max {lt['max_chunks']}): " + ", ".join(f"{k}: {v}" for k, v in stats["windows_per_document"].items())
                + f" (mean {stats['windows_mean']:.2f}); wordpieces dropped: " + ", ".join(
                    f"{mode} {100 * share:.1f}%" for mode, share in dropped.items())
                + f" (head-tail keeps the first {lt['head_tokens']})")
    if report.get("class_weight"):
        out.append("Class weights: " + ", ".join(f"{k} {v:.3f}" for k, v in report["class_weight"].items()))
    if report.get("pos_weight"):
        out.append("Positive weights per label: " + ", ".join(
            f"{k} {v:.3f}" for k, v in report["pos_weight"].items()))
    return "\n".join(out)
