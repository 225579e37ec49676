"""Label checks before training, on the counts ``prepare`` gathered in the row ledger.

* **Free text**: more distinct training labels than ``--max-labels`` (default 1000),
  or more than ``FREE_TEXT_MIN_LABELS`` (20) distinct labels that are also more than
  half the training rows, is an error: the label column looks like free text. (The
  floor keeps tiny datasets, e.g. 2 classes in 4 rows, legal.)
* **Case**: labels that differ only in case (``Billing``/``billing``) are separate
  classes; one warning names the pairs.
* **Small classes**: a class with fewer than 2 training rows is an error when the
  split is stratified (a ratio split in memory with ``--stratify``): it cannot be
  both learnt and measured. Fewer than ``--min-class-examples`` (default 5): a warning.
* **Evaluation split**: with neither a validation nor a test split left after
  splitting, ``prepare`` stops, unless ``--eval-split train`` asks for metrics on the
  training rows; an ``--eval-split`` that is empty is an error too.
"""
from __future__ import annotations

import logging

from tfclf.config import DataConfig
from tfclf.data.ledger import RowLedger
from tfclf.errors import TfclfError

logger = logging.getLogger(__name__)

FREE_TEXT_MIN_LABELS = 20  # below this many labels, "more than half the rows" is no evidence


def check_free_text(ledger: RowLedger, where: str, config: DataConfig, names: list) -> None:
    """Stops when the training labels look like free text (see the module docstring).

    Raises:
        TfclfError: naming ``where`` (the first input), the label column and examples.
    """
    rows = ledger.rows("train")
    n = len(names)
    if n <= config.max_labels and not (n > FREE_TEXT_MIN_LABELS and n > rows / 2):
        return
    codes = sorted(ledger.counts["train"], key=lambda c: ledger.first_seen[("train", c)])
    examples = [ledger.label_values[c] for c in codes[:5]]
    examples = [x if len(str(x)) <= 60 else str(x)[:57] + "..." for x in examples]
    why = (f"more than --max-labels {config.max_labels}" if n > config.max_labels else
           f"more than half the rows (with over {FREE_TEXT_MIN_LABELS} labels)")
    raise TfclfError(
        f"{where}: --label-column {list(config.label_column)} looks like free "
        f"text, not class names: {n} distinct labels in {rows} training rows ({why}). Examples: "
        f"{examples}. Check --label-column and --text-column (and --no-header/--column-names for a "
        "headerless file), or raise --max-labels for a task with that many classes.")


def warn_case_variants(ledger: RowLedger) -> None:
    """Warns once about labels that differ only in case."""
    variants: dict[str, set] = {}
    for value in ledger.label_values:
        for name in (value if isinstance(value, tuple) else (value,)):
            variants.setdefault(name.casefold(), set()).add(name)
    groups = sorted(sorted(v) for v in variants.values() if len(v) > 1)
    if groups:
        logger.warning(
            "Labels that differ only in case are separate classes: %s. If they are one class, map "
            "them with --label-map, e.g. %s=%s.", "; ".join(" / ".join(g) for g in groups[:10]),
            groups[0][1], groups[0][0])


def check_splits(config: DataConfig, where: str, rows: dict[str, int], train_counts, *,
                 stratified: bool) -> None:
    """The evaluation split exists; classes have enough training rows.

    Args:
        config: ``eval_split``, ``split``, ``min_class_examples``, ``limit_train``.
        where: the first input, for messages.
        rows: final rows per split.
        train_counts: training rows per label (multi-label: rows carrying it).
        stratified: the split was a stratified ratio split in memory.

    Raises:
        TfclfError: an empty evaluation split, or a class with fewer than 2 training
            rows after a stratified split.
    """
    if config.eval_split is not None and not rows.get(config.eval_split.value):
        raise TfclfError(
            f"{where}: --eval-split {config.eval_split.value} asks for metrics on the "
            f"{config.eval_split.value} split, but it is empty after splitting (rows: {rows}).")
    if config.eval_split is None and not rows.get("validation") and not rows.get("test"):
        raise TfclfError(
            f"{where}: the validation and test splits are both empty after splitting (rows: {rows}, "
            f"--split {','.join(f'{r:g}' for r in config.split)}); final metrics would be computed on the "
            "training rows. Give more rows or validation/test ratios in --split, pass --validation/"
            "--test files, or pass --eval-split train to accept metrics on the training split.")
    small = sorted((n, name) for name, n in train_counts.items() if n < config.min_class_examples)
    tiny = [(n, name) for n, name in small if n < 2]
    if stratified and tiny:
        raise TfclfError(
            f"{where}: class {tiny[0][1]!r} has {tiny[0][0]} training row(s) after the stratified split"
            + (f" (and {len(tiny) - 1} more such classes: {[x for _, x in tiny[1:6]]})" if len(tiny) > 1 else "")
            + "; a class needs at least 2 to be learnt. Add rows, drop or merge the class with "
            f"--label-map {tiny[0][1]}=drop (or =another_label) or --where"
            + (", or raise --limit-train" if config.limit_train is not None else "") + ".")
    if small:
        logger.warning("Classes with fewer than --min-class-examples %d training rows: %s. They are "
                       "hard to learn and their metrics are noisy.", config.min_class_examples,
                       ", ".join(f"{name} ({n})" for n, name in small[:20]))
