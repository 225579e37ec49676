"""--class-weight: balanced weights from training counts, or a YAML file with every label; multi-label:
per-label positive weights."""
from collections import Counter

import numpy as np
import pytest

from tfclf.data.class_weights import class_weights, positive_weights
from tfclf.errors import TfclfError
from tfclf.labels import LabelVocabulary

LABELS = LabelVocabulary(["brand", "female", "male"])
COUNTS = Counter({"brand": 100, "female": 300, "male": 200})


def test_none_and_balanced():
    assert class_weights("none", COUNTS, LABELS) is None
    weights = class_weights("balanced", COUNTS, LABELS)
    assert weights == pytest.approx({0: 2.0, 1: 2 / 3, 2: 1.0})  # 600 / (3 * n_c)
    assert sum(COUNTS[name] * weights[i] for i, name in enumerate(LABELS.names)) == pytest.approx(600)


def test_sqrt_is_the_square_root_of_balanced():
    weights = class_weights("sqrt", COUNTS, LABELS)
    assert weights == pytest.approx({0: 2.0 ** 0.5, 1: (2 / 3) ** 0.5, 2: 1.0})
    # Softer than balanced: the rarest class gains less, the commonest loses less.
    balanced = class_weights("balanced", COUNTS, LABELS)
    assert 1.0 < weights[0] < balanced[0] and balanced[1] < weights[1] < 1.0


def test_yaml_file(tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text("brand: 1\nfemale: 0.5\nmale: 2.5\n")
    assert class_weights(str(f), COUNTS, LABELS) == {0: 1.0, 1: 0.5, 2: 2.5}


@pytest.mark.parametrize("content, message", [
    ("brand: 1\nfemale: 1\n", r"no weight for label\(s\) \['male'\]"),
    ("brand: 1\nfemale: 1\nmale: 1\nrobot: 2\n", r"label 'robot' is not a training label"),
    ("brand: 1\nfemale: 0\nmale: 1\n", r"the weight of 'female' must be a positive number"),
    ("- brand\n", r"expected a mapping of label: weight"),
])
def test_bad_yaml_file(tmp_path, content, message):
    f = tmp_path / "w.yaml"
    f.write_text(content)
    with pytest.raises(TfclfError, match=message):
        class_weights(str(f), COUNTS, LABELS)


def test_missing_file(tmp_path):
    with pytest.raises(TfclfError, match=r"--class-weight file not found"):
        class_weights(str(tmp_path / "nope.yaml"), COUNTS, LABELS)


# ------------------------------------------------------ multi-label: per-label positive weights

TAGS = LabelVocabulary(["always", "common", "never", "rare"])
# 10 training rows: rare on 2, common on 8, always on all 10, never on none.
TAG_COUNTS = Counter({"rare": 2, "common": 8, "always": 10})


def test_positive_weights_are_negatives_over_positives_per_label():
    assert positive_weights("none", TAG_COUNTS, 10, TAGS) is None
    balanced = positive_weights("balanced", TAG_COUNTS, 10, TAGS)
    assert balanced.dtype == np.float32 and balanced.shape == (4,)
    # always: no negatives, never: no positives -> 1; common: 2 / 8; rare: 8 / 2.
    assert balanced.tolist() == [1.0, 0.25, 1.0, 4.0]
    assert positive_weights("sqrt", TAG_COUNTS, 10, TAGS).tolist() == [1.0, 0.5, 1.0, 2.0]


def test_positive_weights_from_a_yaml_file(tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text("always: 1\ncommon: 0.5\nnever: 3\nrare: 2.5\n")
    assert positive_weights(str(f), TAG_COUNTS, 10, TAGS).tolist() == [1.0, 0.5, 3.0, 2.5]
    f.write_text("always: 1\n")
    with pytest.raises(TfclfError, match=r"no weight for label\(s\) \['common', 'never', 'rare'\]"):
        positive_weights(str(f), TAG_COUNTS, 10, TAGS)


def test_prepare_computes_positive_weights_on_the_training_split(tmp_path):
    from tfclf import data
    from tfclf.config import DataConfig

    f = tmp_path / "d.csv"
    f.write_text("text,tags\n" + "".join(f"t{i},{['a', 'a|b', 'a', 'a|c', 'a'][i % 5]}\n" for i in range(100)))
    p = data.prepare(DataConfig(data=str(f), label_column="tags", label_separator="|", class_weight="balanced"),
                     seed=0)
    assert p.class_weight is None and p.report["class_weight"] is None
    train = p.report["splits"]["train"]
    counts = [train["labels"][name] for name in p.labels.names]
    assert p.pos_weight.tolist() == pytest.approx(
        [1.0] + [(train["rows"] - n) / n for n in counts[1:]])  # 'a' is on every row
    assert p.report["pos_weight"] == pytest.approx(dict(zip(p.labels.names, p.pos_weight.tolist())))
