"""Typed run configuration: one definition for CLI flags, YAML keys and the saved config.yaml.

Every field carries its help text in ``metadata["help"]``. Sections are frozen
dataclasses; a ``RunConfig`` groups them. Precedence when resolving a run:
dataclass defaults < ``--config experiments/NAME.yaml`` < command-line flags.

YAML layout (the same names as the flags, with dashes as underscores)::

    data:
      train: ../shared/datasets/emotion/train.txt
      delimiter: ";"
    model:
      encoder: minilm
    optimizer:
      values: [5.0e-5, 1.0e-5]
    train:
      epochs: 3

A tuning YAML adds ``tune:`` and ``search:`` sections (``tfclf.tuning``); ``fit
--config`` accepts it and only checks that they are mappings.

Modules, one concept each (everything is importable from ``tfclf.config``):

* ``fields``: config dataclasses <-> YAML values and flags: ``field``, ``coerce``,
  ``build_section``, and the one flag generator ``add_dataclass_arguments`` /
  ``given_arguments``;
* ``data``: ``DataConfig``, the ``data:`` section;
* ``sections``: the ``model:``, ``optimizer:`` and ``train:`` sections, their
  choices (``Pooling``, ``Monitor``, ``BaselineMethod``, ...), ``RunConfig`` and
  ``ExportConfig``;
* ``sources``: YAML files, a run's saved config.yaml and flags -> ``RunConfig``.

No TensorFlow import: the CLIs check their input with it first.
"""
from tfclf.config.data import EVAL_GROUP_ROW, BlankLabels, DataConfig, DataFormat, EvalSplit, Task
from tfclf.config.fields import (add_dataclass_arguments, build_section, coerce, field, given_arguments,
                                 section_to_dict, strip_optional)
from tfclf.config.sections import (SECTIONS, AdamUpdate, BaselineMethod, ChunkPooling, ExportConfig,
                                   EncoderRuntime, ExportFormat, LengthGrouping, LongText, MixedPrecision, ModelConfig, Monitor, OptimizerConfig,
                                   Pooling, RunConfig, Schedule, Strategy, ThresholdStrategy,
                                   TrainConfig)
from tfclf.config.sources import (TUNING_SECTIONS, add_arguments, from_args, from_dict, load_sections,
                                  load_yaml, parse_yaml, save_yaml, Reader)

__all__ = [
    "EVAL_GROUP_ROW", "SECTIONS", "TUNING_SECTIONS", "AdamUpdate", "BaselineMethod", "BlankLabels", "ChunkPooling",
    "DataConfig", "DataFormat",
    "EncoderRuntime", "EvalSplit", "ExportConfig", "ExportFormat", "LengthGrouping", "LongText", "MixedPrecision", "ModelConfig",
    "Monitor", "OptimizerConfig", "Pooling", "RunConfig", "Schedule", "Strategy", "Task", "ThresholdStrategy",
    "TrainConfig",
    "add_arguments", "add_dataclass_arguments", "build_section", "coerce", "field", "from_args",
    "from_dict", "given_arguments", "load_sections", "load_yaml", "parse_yaml", "Reader", "save_yaml", "section_to_dict",
    "strip_optional",
]
