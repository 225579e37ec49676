"""``DataConfig``: how input files are read, cleaned and split (the ``data:`` section)."""
from __future__ import annotations

import dataclasses
import enum
import re
from typing import Optional

from tfclf.config.fields import field
from tfclf.errors import TfclfError


class DataFormat(str, enum.Enum):
    """How input files are read; ``auto`` decides by extension and folder layout."""

    AUTO = "auto"
    FOLDERS = "folders"  # root/[<split>/]<label>/*.txt
    DELIMITED = "delimited"  # CSV, TSV, text;label
    PARALLEL = "parallel"  # {split}_text.txt + {split}_labels.txt, one example per line
    JSONL = "jsonl"
    PARQUET = "parquet"
    LINES = "lines"  # one text per line, no label: unlabelled texts (topic maps); never picked by auto


class EvalSplit(str, enum.Enum):
    """--eval-split: the split final metrics are computed on."""

    TEST = "test"
    VALIDATION = "validation"
    TRAIN = "train"  # only when asked for: metrics on training rows flatter the model


class Task(str, enum.Enum):
    """--task: one label per row, or a set of labels per row."""

    AUTO = "auto"  # decided by the data when it is read (tfclf.data.multilabel.resolve_task)
    SINGLE_LABEL = "single-label"
    MULTI_LABEL = "multi-label"


class BlankLabels(str, enum.Enum):
    """--blank-labels: what a blank label cell means in a multi-label input."""

    DROP = "drop"  # missing: the row is dropped and counted as blank_label
    EMPTY = "empty"  # no label applies: the row is kept with an empty label set


_CLASS_WEIGHT_CHOICES = ("none", "balanced", "sqrt")
EVAL_GROUP_ROW = "row"  # --eval-group-by row: the examples one row gives
_AXIS = re.compile(r"([^\s/,])/([^\s/,])")  # one axis of --label-axes: two single characters, e.g. I/E


@dataclasses.dataclass(frozen=True)
class DataConfig:
    data: Optional[str] = field(
        None, "One file or folder to split into train/validation/test with --split and --seed. "
        "A folder holding train.*/val.*/test.* files, {split}_text.txt + {split}_labels.txt "
        "pairs or <split>/<label>/ folders gives its own splits.")
    train: Optional[str] = field(None, "Training file or class-folder directory.")
    validation: Optional[str] = field(None, "Validation file or directory (else split from train).")
    test: Optional[str] = field(None, "Test file or directory (else split from train).")
    format: DataFormat = field(
        DataFormat.AUTO, "Input format; auto: by extension (.csv .tsv .txt .jsonl .parquet) "
        "and folder layout. lines: one text per line, no label (texts for a topic map; never "
        "chosen by auto, since .txt means text;label).")
    encoding: str = field("utf-8", "Text encoding of input files (e.g. latin-1).")
    delimiter: Optional[str] = field(
        None, "Field delimiter (one character, or 'tab'); default by extension: .csv ',', "
        ".tsv tab, .txt ';', else sniffed.")
    header: Optional[bool] = field(
        None, "Whether the first row of a delimited file is a header; default: it is when it "
        "names --text-column and --label-column. A first row that looks like a header (every "
        "field non-empty, non-numeric, distinct and short, and none repeated in its column "
        "below) but does not name them is an error: pass the header's names, or --no-header "
        "if the row is data.")
    skip_rows: int = field(0, "Lines to skip at the top of delimited files, before the header.")
    text_column: tuple[str, ...] = field(
        ("text",), "Column(s) holding the text, e.g. description,text; several are joined with "
        "--text-separator (blank parts skipped), or made separate examples by --stack-text-columns. Headerless files: a --column-names name or a "
        "0-based field index (e.g. 3); headerless 2-column text<delimiter>label files: text.")
    text_separator: str = field(" ", "Joins several --text-column values (not with --stack-text-columns).")
    stack_text_columns: bool = field(
        False, "Make each --text-column of a row a separate example instead of joining them with "
        "--text-separator, e.g. --text-column description,text: two examples per row, in column "
        "order. Each keeps the row's label and group; a blank cell is dropped (counted as blank_text) "
        "unless --empty-text gives a placeholder. A row's examples never straddle splits: without "
        "--group-column the row is their group. Needs at least two --text-column.")
    explode_text: Optional[str] = field(
        None, "Split each text at this separator into several examples, e.g. '|||' (one post per "
        "example): after the text columns are read (joined, or each cell with --stack-text-columns), "
        "before cleaning, so cleaning applies to each part. Blank parts are skipped (counted as "
        "blank_parts); each other part keeps the row's label and group, and a row's parts never "
        "straddle splits: without --group-column the row is their group.")
    max_examples_per_row: Optional[int] = field(
        None, "With --explode-text: keep the first N examples of each row (column order, then part "
        "order; after cleaning and blank-text drops); the rest are dropped and counted as "
        "max_examples_per_row. None: keep all.")
    label_column: tuple[str, ...] = field(
        ("label",), "Column holding the label (headerless files: a --column-names name or a "
        "0-based field index; 2-column files: label, the last field); several columns are binary "
        "0/1 columns of a multi-label task, named by their headers.")
    column_names: tuple[str, ...] = field(
        (), "Names of the columns of a headerless delimited file, in order, e.g. "
        "source,label,mark,sentence; --text-column/--label-column/--group-column then pick among "
        "them. The file must have no header: a first row that looks like one is an error (pass "
        "--skip-rows 1 to replace the header's names, or --no-header to read that row as data); "
        "--header with --column-names is refused. Default: none (a headerless file with more "
        "than two fields then needs 0-based indices, e.g. --text-column 3 --label-column 1).")
    label_separator: Optional[str] = field(
        None, "Multi-label: the label column holds labels joined by this string, e.g. '|'.")
    task: Task = field(
        Task.AUTO, "single-label or multi-label. auto: multi-label when --label-separator, several "
        "--label-column or --label-axes say so, or when the label column of a JSONL/Parquet input "
        "holds lists (each element a label; a cell that is not a list is then a one-label set); "
        "else single-label. single-label refuses lists. A prepared run records the resolved task.")
    blank_labels: BlankLabels = field(
        BlankLabels.DROP, "Multi-label: what a blank label cell (a delimited file's 'text,') means. "
        "drop: a missing label, the row is dropped (counted as blank_label); empty: no label "
        "applies, the row is kept with an empty label set. Needs a multi-label task.")
    label_axes: tuple[str, ...] = field(
        (), "Multi-label from a composite code in --label-column: one A/B axis per character, e.g. "
        "I/E,N/S,T/F,J/P. Axis i reads the code's i-th character (case-insensitive): A gives the "
        "label A, B gives no label, so 'INTJ' -> {I, N, T, J} and 'ESFP' -> {}. Rename labels with "
        "--label-map (e.g. I=introvert). A code of another length, or with a character that is "
        "neither side of its axis, drops the row (counted as invalid_code). Default: none.")
    max_invalid_codes: float = field(
        0.5, "Largest share of an input's --label-axes codes that may be invalid (dropped as "
        "invalid_code); a larger share is an error, since it means the wrong column or axes.")
    group_column: Optional[str] = field(
        None, "Column whose value keeps rows together: no group is in two splits (e.g. a user "
        "name); a 0-based field index in headerless files.")
    eval_group_by: Optional[str] = field(
        None, "Also score the evaluated split per group: a column whose value names a group of "
        "examples (an account, a user), or row: the examples of one row (--stack-text-columns, "
        "--explode-text). A group's prediction is the mean of its examples' probabilities "
        "(multi-label: per label, then the run's thresholds), its label the one its examples share "
        "(examples of one group with different labels are an error naming the group); metrics.json "
        "gets group_level, report.md a Group level section. A blank cell makes its row a group of "
        "its own. Without --group-column the column also keeps each group in one split; with one, "
        "it must be that column (or row). Default: none (per example only).")
    where: Optional[str] = field(
        None, "Keep only rows matching this pandas query over the input's columns, e.g. "
        "'`gender:confidence` >= 0.6'.")
    empty_text: Optional[str] = field(
        None, "Placeholder for blank texts; without it rows with blank text are dropped and counted.")
    label_map: tuple[str, ...] = field(
        (), "Relabel with old=new, drop with old=drop; comma-separated, e.g. unknown=drop,0=negative.")
    class_weight: str = field(
        "none", "Loss weight per class: none, balanced (n_rows / (n_classes * n_class_rows) on the "
        "training split), sqrt (the square root of balanced: a softer push towards rare classes), "
        "or a .yaml file mapping every label to a weight. Multi-label: a weight on each label's "
        "positive rows in its binary loss: balanced is n_negative / n_positive on the training "
        "split, sqrt its square root (1 for a label with no positive or no negative training "
        "rows), a .yaml file gives them per label.")
    strip_email_headers: bool = field(
        False, "Drop each text's e-mail/Usenet header block: everything up to the first blank line "
        "(LF or CRLF), when every line before it is a header field ('Subject: hi') or its folded "
        "continuation. Texts without such a block are kept unchanged (data_report.json counts the "
        "rows changed). On 20 newsgroups the same as scikit-learn's remove=('headers',), which "
        "would empty a text without a blank line.")
    strip_signatures: bool = field(
        False, "Drop each text's last block, after its last line that is blank or only dashes, "
        "as a signature. As scikit-learn's 20 newsgroups remove=('footers',).")
    strip_quotes: bool = field(
        False, "Drop quoted lines (starting with > or |) and lines that introduce a quote (holding "
        "writes:, wrote:, said:, says: or 'writes in', or starting 'In article' or 'Quoted from'). "
        "As scikit-learn's 20 newsgroups remove=('quotes',).")
    strip_urls: bool = field(False, "Remove http(s):// and www. URLs from texts.")
    strip_mentions: bool = field(False, "Remove @mentions from texts.")
    strip_html: bool = field(False, "Replace HTML tags (e.g. <br />) by spaces and unescape entities.")
    normalize_unicode: bool = field(False, "Normalise texts to Unicode NFC.")
    normalize_whitespace: bool = field(
        False, "Collapse runs of whitespace (line breaks included) to one space and trim.")
    lowercase: bool = field(False, "Lowercase texts.")
    split: tuple[float, ...] = field(
        (0.8, 0.1, 0.1),
        "Train/validation/test ratios used when splits are not given (a missing validation "
        "split is carved from train with ratio validation/(train+validation)).")
    stratify: bool = field(
        True, "Stratify ratio splits by label (in memory; streamed splits hash each row's key).")
    dedupe: bool = field(
        False, "Drop validation rows whose text is in train, and test rows whose text is in train "
        "or validation.")
    limit_train: Optional[int] = field(
        None, "Keep a stratified sample of at most N training rows.")
    stream: Optional[bool] = field(
        None, "Stream inputs in chunks instead of loading them (flat memory; splits by hash of "
        "the text or --group-column). Default: stream when inputs exceed --stream-threshold-mb.")
    stream_threshold_mb: float = field(
        256.0, "Input size (MB on disk) above which inputs are streamed unless --no-stream.")
    shuffle_buffer: int = field(10000, "Shuffle buffer size (rows) for the training stream.")
    length_sample: int = field(
        5000, "Texts per split sampled for the report's length statistics (0: none).")
    max_labels: int = field(
        1000, "Most distinct training labels accepted (default 1000). More, or more than 20 that "
        "are also more than half the training rows, means the label column looks like free text: "
        "an error.")
    min_class_examples: int = field(
        5, "Warn about classes with fewer training rows than this (default 5). A class with fewer "
        "than 2 is an error when the split is stratified (a ratio split in memory with --stratify).")
    eval_split: Optional[EvalSplit] = field(
        None, "Split the final metrics are computed on: test, validation or train. Default: test, "
        "else validation; with neither, an error (pass --eval-split train to accept metrics on "
        "training rows).")

    def __post_init__(self) -> None:
        # Python callers may pass a comma-separated string, as on the command line.
        for name in ("text_column", "label_column", "label_map", "column_names", "label_axes"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, tuple(v.strip() for v in value.split(",") if v.strip()))
            elif not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if self.data and (self.train or self.validation or self.test):
            raise TfclfError(
                "--data cannot be combined with --train/--validation/--test. "
                f"Received: data={self.data!r}, train={self.train!r}, "
                f"validation={self.validation!r}, test={self.test!r}")
        if (self.validation or self.test) and not (self.train or self.data):
            raise TfclfError("--validation/--test need --train. Received: train=None")
        if len(self.split) != 3 or any(r < 0 for r in self.split) or abs(sum(self.split) - 1) > 1e-6:
            raise TfclfError(
                "--split must be three non-negative ratios that sum to 1, e.g. 0.8,0.1,0.1. "
                f"Received: split={','.join(str(r) for r in self.split)}")
        if self.split[0] <= 0:
            raise TfclfError(f"--split needs a positive train ratio. Received: split={self.split}")
        if self.limit_train is not None and self.limit_train < 1:
            raise TfclfError(f"--limit-train must be >= 1. Received: limit_train={self.limit_train}")
        if self.shuffle_buffer < 1:
            raise TfclfError(f"--shuffle-buffer must be >= 1. Received: {self.shuffle_buffer}")
        for name in ("text_column", "label_column"):
            columns = getattr(self, name)
            if not columns or any(not c.strip() for c in columns) or len(set(columns)) != len(columns):
                raise TfclfError(
                    f"--{name.replace('_', '-')} must name one or more distinct, non-blank columns. "
                    f"Received: {name}={list(columns)}")
        if self.label_separator is not None and len(self.label_column) > 1:
            raise TfclfError(
                "--label-separator applies to a single --label-column; several label columns are "
                f"read as binary 0/1 columns. Received: label_column={list(self.label_column)}, "
                f"label_separator={self.label_separator!r}")
        self._check_examples_per_row()
        self._check_eval_group_by()
        if self.label_separator == "":
            raise TfclfError("--label-separator must not be empty. Received: label_separator=''")
        self.axes()  # validates the A/B items
        self._resolve_task()
        if not 0 <= self.max_invalid_codes <= 1:
            raise TfclfError("--max-invalid-codes must be a share in [0, 1]. "
                             f"Received: max_invalid_codes={self.max_invalid_codes}")
        self.label_mapping()  # validates the old=new items
        if self.delimiter is not None:
            delimiter = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(self.delimiter, self.delimiter)
            if len(delimiter) != 1 or delimiter in "\"\r\n":
                raise TfclfError(
                    "--delimiter must be one character other than a quote or line break, or 'tab'. "
                    f"Received: delimiter={self.delimiter!r}")
            object.__setattr__(self, "delimiter", delimiter)
        import codecs

        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise TfclfError(
                f"--encoding must be a Python text encoding such as utf-8 or latin-1. "
                f"Received: encoding={self.encoding!r}") from None
        if self.skip_rows < 0:
            raise TfclfError(f"--skip-rows must be >= 0. Received: skip_rows={self.skip_rows}")
        if self.class_weight not in _CLASS_WEIGHT_CHOICES and not self.class_weight.endswith(
                (".yaml", ".yml")):
            raise TfclfError(
                f"--class-weight must be one of {list(_CLASS_WEIGHT_CHOICES)} or a .yaml file of "
                f"{{label: weight}}. Received: class_weight={self.class_weight!r}")
        if self.where is not None and not self.where.strip():
            raise TfclfError("--where must be a pandas query, e.g. 'confidence >= 0.6'. Received: ''")
        if self.stream_threshold_mb <= 0:
            raise TfclfError(
                f"--stream-threshold-mb must be > 0. Received: stream_threshold_mb={self.stream_threshold_mb}")
        if self.length_sample < 0:
            raise TfclfError(f"--length-sample must be >= 0. Received: length_sample={self.length_sample}")
        if any(not c.strip() for c in self.column_names) or len(set(self.column_names)) != len(self.column_names):
            raise TfclfError("--column-names must name every column once, non-blank, e.g. "
                             f"source,label,mark,sentence. Received: column_names={list(self.column_names)}")
        if self.column_names and self.header:
            raise TfclfError(
                "--column-names names the columns of a headerless file; it cannot be combined with "
                "--header. Drop --column-names to use the header's names, or pass --skip-rows 1 "
                f"--column-names ... to replace them. Received: column_names={list(self.column_names)}")
        if self.max_labels < 2:
            raise TfclfError(f"--max-labels must be >= 2. Received: max_labels={self.max_labels}")
        if self.min_class_examples < 1:
            raise TfclfError(
                f"--min-class-examples must be >= 1. Received: min_class_examples={self.min_class_examples}")
        if self.eval_split is not None and not isinstance(self.eval_split, EvalSplit):
            try:
                object.__setattr__(self, "eval_split", EvalSplit(self.eval_split))
            except ValueError:
                raise TfclfError(f"--eval-split must be one of {[m.value for m in EvalSplit]}. "
                                 f"Received: eval_split={self.eval_split!r}") from None

    def _check_examples_per_row(self) -> None:
        """Validates --stack-text-columns, --explode-text and --max-examples-per-row."""
        if self.stack_text_columns and len(self.text_column) < 2:
            raise TfclfError(
                "--stack-text-columns makes each --text-column a separate example and needs at least "
                f"two, e.g. --text-column description,text. Received: text_column={list(self.text_column)}")
        if self.explode_text is not None and not self.explode_text:
            raise TfclfError("--explode-text must be a non-empty separator, e.g. '|||'. "
                             f"Received: explode_text={self.explode_text!r}")
        if self.max_examples_per_row is not None:
            if self.max_examples_per_row < 1:
                raise TfclfError("--max-examples-per-row must be >= 1. "
                                 f"Received: max_examples_per_row={self.max_examples_per_row}")
            if self.explode_text is None:
                raise TfclfError(
                    "--max-examples-per-row caps the parts of --explode-text and needs it, e.g. "
                    "--explode-text '|||'. Received: "
                    f"max_examples_per_row={self.max_examples_per_row}, explode_text=None")

    def _check_eval_group_by(self) -> None:
        """Validates --eval-group-by against --group-column and the examples per row."""
        value = self.eval_group_by
        if value is None:
            return
        if not value.strip():
            raise TfclfError("--eval-group-by must name a column (e.g. user) or be 'row'. "
                             f"Received: eval_group_by={value!r}")
        if value == EVAL_GROUP_ROW:
            if not self.several_examples_per_row:
                raise TfclfError(
                    "--eval-group-by row groups the examples of a row, which needs --stack-text-columns "
                    "or --explode-text (else each row is one example); name a column to group rows, "
                    "e.g. --eval-group-by user. Received: eval_group_by='row'")
            return
        if self.group_column is not None and self.group_column != value:
            raise TfclfError(
                "--eval-group-by must be the --group-column (or row) when both are given: splits keep "
                "only the --group-column's groups together, so other evaluation groups could straddle "
                "splits. Drop --group-column to split by the evaluation groups, or pass the same column. "
                f"Received: eval_group_by={value!r}, group_column={self.group_column!r}")

    @property
    def split_group_column(self) -> Optional[str]:
        """The column that keeps rows together in one split: --group-column, else the column of
        --eval-group-by (evaluation groups never straddle splits); None for neither."""
        if self.group_column is not None:
            return self.group_column
        return None if self.eval_group_by in (None, EVAL_GROUP_ROW) else self.eval_group_by

    @property
    def several_examples_per_row(self) -> bool:
        """A row can give several examples (--stack-text-columns, --explode-text); they share its
        label and group and are split together."""
        return self.stack_text_columns or self.explode_text is not None

    def _resolve_task(self) -> None:
        """Validates ``task`` against the label flags; they make it ``multi-label``."""
        if not isinstance(self.task, Task):
            try:
                object.__setattr__(self, "task", Task(self.task))
            except ValueError:
                raise TfclfError(f"--task must be one of {[m.value for m in Task]}. "
                                 f"Received: task={self.task!r}") from None
        if self.label_axes:
            if self.label_separator is not None or len(self.label_column) > 1:
                raise TfclfError(
                    "--label-axes reads a code from one --label-column; it cannot be combined with "
                    "--label-separator or several --label-column. Received: "
                    f"label_column={list(self.label_column)}, label_separator={self.label_separator!r}")
        said = [flag for flag, given in (("--label-separator", self.label_separator is not None),
                                         ("several --label-column", len(self.label_column) > 1),
                                         ("--label-axes", bool(self.label_axes))) if given]
        if said and self.task is Task.SINGLE_LABEL:
            raise TfclfError(f"--task single-label contradicts {said[0]}, which makes the task "
                             f"multi-label. Received: task='single-label'")
        if said:
            object.__setattr__(self, "task", Task.MULTI_LABEL)
        try:
            object.__setattr__(self, "blank_labels", BlankLabels(self.blank_labels))
        except ValueError:
            raise TfclfError(f"--blank-labels must be one of {[m.value for m in BlankLabels]}. "
                             f"Received: blank_labels={self.blank_labels!r}") from None
        if self.blank_labels is BlankLabels.EMPTY and self.task is not Task.MULTI_LABEL:
            raise TfclfError(
                "--blank-labels empty reads a blank label cell as an empty label set, which needs a "
                "multi-label task: pass --label-separator, several --label-column or --task multi-label. "
                f"Received: task={self.task.value!r}")

    @property
    def multi_label(self) -> bool:
        """Several labels per row: ``--task multi-label``, which a --label-separator, several
        binary --label-column or --label-axes imply. False while ``--task auto`` has not been
        resolved: ``tfclf.data.prepare`` resolves it from the data (lists in the label column)."""
        return self.task is Task.MULTI_LABEL

    def axes(self) -> tuple[tuple[str, str], ...]:
        """``--label-axes`` as ((label side, other side), ...), one per code position.

        Raises:
            TfclfError: an item is not two single characters around ``/``, both sides of
                an axis are one letter, two axes give the same label, or only one axis.
        """
        example = "e.g. I/E,N/S,T/F,J/P"
        axes = []
        for item in self.label_axes:
            match = _AXIS.fullmatch(item)
            if not match:
                raise TfclfError(
                    "--label-axes must be comma-separated A/B pairs of single characters, one per "
                    f"character of the code, {example}. Received: label_axes={list(self.label_axes)}")
            yes, no = match.groups()
            if yes.casefold() == no.casefold():
                raise TfclfError(f"--label-axes must give each axis two different sides (compared "
                                 f"case-insensitively). Received: {item!r} in label_axes="
                                 f"{list(self.label_axes)}")
            axes.append((yes, no))
        labels = [yes.casefold() for yes, _ in axes]
        if len(set(labels)) != len(labels):
            raise TfclfError(f"--label-axes must give each axis its own label (the first side, "
                             f"compared case-insensitively). Received: label_axes={list(self.label_axes)}")
        if len(axes) == 1:
            raise TfclfError(
                "--label-axes must name at least 2 axes, " + example + "; one binary axis is a "
                "single-label task (map the code with --label-map instead). "
                f"Received: label_axes={list(self.label_axes)}")
        return tuple(axes)

    def label_mapping(self) -> dict[str, Optional[str]]:
        """``--label-map`` as {old: new}; None means drop the row.

        Raises:
            TfclfError: an item is not ``old=new`` or an old label repeats.
        """
        mapping: dict[str, Optional[str]] = {}
        for item in self.label_map:
            old, sep, new = item.partition("=")
            if not sep or not old.strip() or not new.strip():
                raise TfclfError(
                    "--label-map items must look like old=new or old=drop. "
                    f"Received: label_map={item!r}")
            if old.strip() in mapping:
                raise TfclfError(f"--label-map maps {old.strip()!r} twice. Received: {list(self.label_map)}")
            mapping[old.strip()] = None if new.strip() == "drop" else new.strip()
        return mapping
