"""--class-weight: balanced weights from training counts, or a YAML file with every label."""
from collections import Counter

import pytest

from tfclf.data.class_weights import class_weights
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
