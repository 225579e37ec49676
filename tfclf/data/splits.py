"""Splitting examples into train/validation/test without leaks.

* **In memory:** ratio splits are stratified by label (``stratified_split``) or
  random (``random_split``); with ``--group-column`` whole groups are assigned
  (``group_split``, stratified by each group's majority label), so no group is in
  two splits.
* **Multi-label, in memory** (labels are tuples): stratified splits use iterative
  stratification (Sechidis, Tsoumakas and Vlahavas, "On the Stratification of
  Multi-Label Data", ECML PKDD 2011; ``iterative_stratification``), which keeps each
  label's share in every split close to its overall share. With ``--group-column``
  the units it assigns are whole groups, weighted by their rows.
* **Several examples per row** (``--stack-text-columns``, ``--explode-text``): the
  examples of a row share a group (its ``--group-column`` value, else the row itself:
  ``tfclf.data.columns``), so the grouped split keeps them in one split.
* **Streaming:** each row goes to the split given by a seeded hash of its key, the
  ``--group-column`` value (or the row, as above) or else the text itself
  (``assign_by_hash``). No table is needed, the result does not depend on chunking
  or row order, and identical texts (or groups) always land in the same split.

Hashes are pandas' SipHash with a fixed key (``text_hashes``), mixed with the seed
by SplitMix64, so they are stable across processes and machines.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Optional, Sequence

import numpy as np
import pandas as pd

from tfclf.errors import TfclfError

TEXT, LABEL, GROUP = "text", "label", "group"
SPLIT_NAMES = ("train", "validation", "test")
_HASH_KEY = "tfclf-data-hash0"  # 16 bytes: SipHash key, fixed so hashes never change


@dataclasses.dataclass
class Splits:
    """The three splits as DataFrames with columns ``text`` and ``label``.

    ``validation`` or ``test`` is None when the data gives none and none was carved out.
    """

    train: pd.DataFrame
    validation: Optional[pd.DataFrame]
    test: Optional[pd.DataFrame]

    def items(self):
        return [(name, df) for name, df in zip(SPLIT_NAMES, (self.train, self.validation, self.test))
                if df is not None]


# ------------------------------------------------------------------------------------ hashing

def text_hashes(values: Iterable[str]) -> np.ndarray:
    """[rows] uint64 hashes of strings, identical for identical strings in any process."""
    array = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=object)
    if len(array) == 0:
        return np.zeros(0, dtype=np.uint64)
    return pd.util.hash_array(array, hash_key=_HASH_KEY, categorize=False)


def label_keys(labels: Sequence) -> np.ndarray:
    """[rows] uint64 hashes of labels (str, or tuples of str for multi-label)."""
    return text_hashes(["\x1f".join(x) if isinstance(x, tuple) else x for x in labels])


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection on uint64 that spreads every input bit."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def hash_unit(hashes: np.ndarray, seed: int, stream: int = 0) -> np.ndarray:
    """Maps uint64 hashes to uniform floats in [0, 1), a different stream per (seed, stream)."""
    salt = _mix(np.uint64((seed * 1_000_003 + stream) % 2**64))
    return (_mix(np.asarray(hashes, dtype=np.uint64) ^ salt) >> np.uint64(11)).astype(np.float64) / 2.0**53


def assign_by_hash(keys: np.ndarray, fractions: Sequence[float], seed: int) -> np.ndarray:
    """Split index per row from its key hash: row i goes to split j with probability fractions[j].

    Args:
        keys: [rows] uint64 hashes of the row keys (``text_hashes`` of the group or text).
        fractions: one per split, summing to 1.
        seed: changes the assignment.

    Returns:
        [rows] int8 indices into ``fractions``.
    """
    edges = np.cumsum(np.asarray(fractions, dtype=np.float64))
    edges[-1] = np.inf
    return np.searchsorted(edges, hash_unit(keys, seed, stream=1), side="right").astype(np.int8)


# ------------------------------------------------------------------------------ in memory

def _as_fractions(ratios: Sequence[float]) -> np.ndarray:
    r = np.asarray(ratios, dtype=np.float64)
    return r / r.sum()


def _label_key(df: pd.DataFrame) -> pd.Series:
    return df[LABEL].map(lambda x: "\x1f".join(x) if isinstance(x, tuple) else x)


def stratified_split(df: pd.DataFrame, ratios: Sequence[float], seed: int
                     ) -> tuple[pd.DataFrame, ...]:
    """Splits rows into len(ratios) parts per label, in the given ratios, deterministically.

    Every label keeps at least one row in the first part; small labels may be absent
    from the others.
    """
    fractions = _as_fractions(ratios)
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    for _, index in sorted(df.groupby(_label_key(df), sort=True).indices.items()):
        idx = np.array(index)
        rng.shuffle(idx)
        counts = _part_sizes(len(idx), fractions)
        start = 0
        for j in range(1, len(fractions)):
            parts[j].extend(idx[start:start + counts[j]])
            start += counts[j]
        parts[0].extend(idx[start:])
    return tuple(df.iloc[sorted(p)].reset_index(drop=True) for p in parts)


def _part_sizes(n: int, fractions: np.ndarray) -> list[int]:
    sizes = [0] + [int(round(n * f)) for f in fractions[1:]]
    while sum(sizes) > n - 1 and any(sizes[1:]):  # keep one row in the first part
        j = max(range(1, len(sizes)), key=lambda k: sizes[k])
        sizes[j] -= 1
    return sizes


def random_split(df: pd.DataFrame, ratios: Sequence[float], seed: int) -> tuple[pd.DataFrame, ...]:
    """Splits rows in the given ratios, ignoring labels."""
    fractions = _as_fractions(ratios)
    order = np.random.default_rng(seed).permutation(len(df))
    sizes = _part_sizes(len(df), fractions)
    parts, start = [None] * len(fractions), 0
    for j in range(1, len(fractions)):
        parts[j] = order[start:start + sizes[j]]
        start += sizes[j]
    parts[0] = order[start:]
    return tuple(df.iloc[np.sort(p)].reset_index(drop=True) for p in parts)


def group_split(df: pd.DataFrame, ratios: Sequence[float], seed: int, stratify: bool = True, *,
                groups_from: str = "--group-column") -> tuple[pd.DataFrame, ...]:
    """Splits whole groups (column ``group``) in the given ratios of rows.

    Groups are shuffled with ``seed`` within strata (their majority label when
    ``stratify``); each group in turn goes to the part furthest below its share of
    the stratum's rows, so every group lands in exactly one part and the row ratios
    miss their targets by about one group's size at most, whatever the group sizes.
    Multi-label rows with ``stratify``: iterative stratification over whole groups.
    ``groups_from`` names where the groups came from, for the error.

    Raises:
        TfclfError: when the first part would be empty (too few groups).
    """
    fractions = np.asarray(_as_fractions(ratios), dtype=np.float64)
    rng = np.random.default_rng(seed)
    codes, uniques = pd.factorize(df[GROUP])
    sizes = np.bincount(codes)
    if stratify and is_multi_label(df):
        part_of_group = _iterative_parts(df, codes, fractions, seed)
    else:
        if stratify:
            majority = (pd.DataFrame({"g": codes, "l": _label_key(df)})
                        .groupby("g")["l"].agg(lambda s: s.value_counts().index[0]))
            strata = majority.groupby(majority).groups
            strata = [np.asarray(v) for _, v in sorted(strata.items())]
        else:
            strata = [np.arange(len(uniques))]
        part_of_group = _fill_parts(strata, sizes, fractions, rng)
    row_part = part_of_group[codes]
    if not (row_part == 0).any():
        raise TfclfError(
            f"{groups_from}: {len(uniques)} group(s) cannot fill the training split with "
            f"--split {','.join(f'{r:g}' for r in ratios)}; need more groups or a larger train ratio.")
    return tuple(df[row_part == j].reset_index(drop=True) for j in range(len(fractions)))


def _fill_parts(strata: list[np.ndarray], sizes: np.ndarray, fractions: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """[groups] part per group: each stratum's groups, shuffled, to the part furthest below target."""
    part_of_group = np.zeros(len(sizes), dtype=np.int64)
    for groups in strata:
        groups = groups[rng.permutation(len(groups))]
        target = fractions * sizes[groups].sum()
        filled = np.zeros(len(fractions))
        for g in groups:
            # The part with the largest deficit after taking this group, relative to its
            # target (ties: the earlier part), so small parts are not starved.
            j = int(np.argmax((target - filled - sizes[g] / 2) / np.maximum(target, 1e-12)))
            part_of_group[g] = j
            filled[j] += sizes[g]
    return part_of_group


def split_frame(df: pd.DataFrame, ratios: Sequence[float], seed: int, *, grouped: bool,
                stratify: bool, groups_from: str = "--group-column") -> tuple[pd.DataFrame, ...]:
    """``group_split`` with groups, else ``stratified_split`` (``multi_label_split`` for
    multi-label rows) or ``random_split``."""
    if grouped:
        return group_split(df, ratios, seed, stratify=stratify, groups_from=groups_from)
    if stratify and is_multi_label(df):
        return multi_label_split(df, ratios, seed)
    if stratify:
        return stratified_split(df, ratios, seed)
    return random_split(df, ratios, seed)


def stratified_sample_index(df: pd.DataFrame, n: int, seed: int) -> np.ndarray:
    """Sorted row positions of at most n rows, label proportions kept (each label keeps >= 1;
    multi-label: by iterative stratification, so a label rarer than len(df) / n rows may go)."""
    frac = n / len(df)
    rng = np.random.default_rng(seed)
    if is_multi_label(df):
        keep = np.flatnonzero(_iterative_parts(df, np.arange(len(df)), (frac, 1 - frac), seed) == 0)
        return np.sort(rng.choice(keep, n, replace=False) if len(keep) > n else keep)
    keep: list[int] = []
    for _, index in sorted(df.groupby(_label_key(df), sort=True).indices.items()):
        idx = np.array(index)
        rng.shuffle(idx)
        keep.extend(idx[:max(1, int(round(len(idx) * frac)))])
    rng.shuffle(keep)
    return np.sort(np.asarray(keep[:n], dtype=np.int64))


def stratified_sample(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most n rows, label proportions kept (each label keeps at least one row)."""
    return df.iloc[stratified_sample_index(df, n, seed)].reset_index(drop=True)


# ---------------------------------------------------------------- multi-label (iterative)

def is_multi_label(df: pd.DataFrame) -> bool:
    """Whether the frame's labels are label sets (tuples) rather than single labels."""
    return len(df) > 0 and isinstance(df[LABEL].iat[0], tuple)


def multi_label_split(df: pd.DataFrame, ratios: Sequence[float], seed: int) -> tuple[pd.DataFrame, ...]:
    """Splits multi-label rows in the given ratios by iterative stratification, deterministically.

    Each label's share of rows in every part stays close to its overall share (within
    about one row of its target count per part); a label with one or two rows stays in
    the largest part.
    """
    part = _iterative_parts(df, np.arange(len(df)), _as_fractions(ratios), seed)
    return tuple(df[part == j].reset_index(drop=True) for j in range(len(ratios)))


def _iterative_parts(df: pd.DataFrame, units: np.ndarray, fractions: Sequence[float], seed: int
                     ) -> np.ndarray:
    """[units] part index per unit (row or group) of multi-label ``df``; ``units`` holds
    each row's unit code, 0..U-1.

    A label on more than half the rows also enters as its complement (the rows
    without it), so both of its sides are stratified: the algorithm balances the
    positive rows it is given, and a frequent label's minority is its negatives.
    """
    sizes = np.bincount(units).astype(np.float64)
    exploded = df[LABEL].reset_index(drop=True).explode()  # a row per (row, label); () gives NaN
    present = exploded.notna().to_numpy()
    labels, names = pd.factorize(exploded[present], sort=True)
    pairs = pd.DataFrame({"u": units[exploded.index.to_numpy()[present]], "l": labels})
    pairs = pairs.groupby(["u", "l"], sort=True).size().reset_index(name="n")
    unit, label, count = pairs["u"].to_numpy(), pairs["l"].to_numpy(), pairs["n"].to_numpy().astype(np.float64)
    totals = np.bincount(label, weights=count, minlength=len(names))
    extra = [(unit, label, count)]
    for k, l in enumerate(np.flatnonzero(totals > sizes.sum() / 2)):
        without = sizes.copy()  # rows of each unit without label l
        np.subtract.at(without, unit[label == l], count[label == l])
        carrying = np.flatnonzero(without > 0)
        extra.append((carrying, np.full(len(carrying), len(names) + k), without[carrying]))
    unit, label, count = (np.concatenate(x) for x in zip(*extra))
    return iterative_stratification(sizes, unit, label, count, int(label.max(initial=-1)) + 1, fractions, seed)


def iterative_stratification(sizes: np.ndarray, unit: np.ndarray, label: np.ndarray, count: np.ndarray,
                             n_labels: int, fractions: Sequence[float], seed: int) -> np.ndarray:
    """Sechidis et al.'s iterative stratification, for units that may hold several rows.

    Each part j wants ``fractions[j]`` of the rows and of each label's positive rows.
    Repeatedly, the label with the fewest positive rows not yet assigned is taken
    (ties: a seeded random order), and each unassigned unit carrying it (larger units
    first, then in seeded random order) goes to the part that still wants the most
    of that label; ties go to the part that wants the most rows, then to a seeded
    random one. Units without labels fill the parts that want the most rows.

    Args:
        sizes: [U] float rows per unit (1 for plain rows).
        unit, label, count: [P] parallel arrays, one per (unit, label) pair with
            ``count`` rows of that unit carrying that label.
        n_labels: labels are 0..n_labels-1.
        fractions: the parts' shares, summing to 1.
        seed: tie-breaking seed; the result is a function of the inputs and the seed.

    Returns:
        [U] int64 part index per unit.
    """
    rng = np.random.default_rng(seed)
    fractions = np.asarray(fractions, dtype=np.float64)
    n_parts, n_units = len(fractions), len(sizes)
    # Visiting order: larger units first (they are the hardest to place), else random.
    shuffled = rng.permutation(n_units)
    rank = np.empty(n_units, dtype=np.int64)
    rank[shuffled[np.argsort(-sizes[shuffled], kind="stable")]] = np.arange(n_units)
    by_unit = np.lexsort((label, unit))
    unit_start = np.searchsorted(unit[by_unit], np.arange(n_units + 1))
    unit_labels, unit_counts = label[by_unit], count[by_unit]
    by_label = np.lexsort((rank[unit], label))
    label_start = np.searchsorted(label[by_label], np.arange(n_labels + 1))
    label_units = unit[by_label]

    totals = np.bincount(label, weights=count, minlength=n_labels)
    wanted = np.outer(fractions, totals)  # [parts, labels] positive rows each part still wants
    wanted_rows = (fractions * sizes.sum()).tolist()
    remaining = totals.copy()  # positive rows not yet assigned, per label
    tie_order = rng.permutation(n_labels)
    part = np.full(n_units, -1, dtype=np.int64)

    def pick(wants: list[float]) -> int:
        best = max(wants)
        choice = [j for j in range(n_parts) if wants[j] == best]
        if len(choice) > 1:
            most = max(wanted_rows[j] for j in choice)
            choice = [j for j in choice if wanted_rows[j] == most]
        return choice[0] if len(choice) == 1 else choice[int(rng.integers(len(choice)))]

    while True:
        open_labels = np.flatnonzero(remaining > 0)
        if not len(open_labels):
            break
        l = open_labels[np.lexsort((tie_order[open_labels], remaining[open_labels]))[0]]
        for u in label_units[label_start[l]:label_start[l + 1]].tolist():
            if part[u] >= 0:
                continue
            j = pick(wanted[:, l].tolist())
            part[u] = j
            own = slice(unit_start[u], unit_start[u + 1])
            wanted[j, unit_labels[own]] -= unit_counts[own]
            remaining[unit_labels[own]] -= unit_counts[own]
            wanted_rows[j] -= sizes[u]
    for u in np.argsort(rank).tolist():  # units without labels
        if part[u] < 0:
            part[u] = j = pick(wanted_rows)
            wanted_rows[j] -= sizes[u]
    return part
