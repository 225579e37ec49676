"""The one flag generator: config dataclasses -> --flags -> the values the user typed."""
import argparse
import dataclasses
import enum
from typing import Optional

import pytest

from tfclf import config as config_lib
from tfclf.config import field
from tfclf.errors import TfclfError


class Colour(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass(frozen=True)
class Example:
    count: int = field(3, "How many.")
    rate: Optional[float] = field(None, "A rate; none: unset.")
    colour: Colour = field(Colour.RED, "A colour.")
    verbose: bool = field(False, "Talk more.")
    sizes: tuple[int, ...] = field((8, 16), "Sizes.")

    def __post_init__(self) -> None:
        if self.count < 1:
            raise TfclfError(f"--count must be >= 1. Received: count={self.count}")


def parser_for(cls=Example, prefix="example."):
    parser = argparse.ArgumentParser()
    config_lib.add_dataclass_arguments(parser.add_argument_group("example"), cls, dest_prefix=prefix)
    return parser


def test_one_flag_per_field_with_its_help_default_choices_and_metavar():
    actions = {a.option_strings[0]: a for a in parser_for()._actions if a.option_strings[0] != "-h"}
    assert list(actions) == ["--count", "--rate", "--colour", "--verbose", "--sizes"]
    assert actions["--count"].help == "How many. (default: 3)" and actions["--count"].metavar == "N"
    assert actions["--rate"].metavar == "X" and actions["--rate"].help.endswith("(default: None)")
    assert actions["--colour"].choices == ["red", "blue"] and actions["--colour"].help == "A colour. (default: red)"
    assert actions["--verbose"].option_strings == ["--verbose", "--no-verbose"]
    assert actions["--sizes"].metavar == "A,B,..." and actions["--sizes"].help.endswith("(default: (8, 16))")
    assert {a.dest for a in actions.values()} == {f"example.{f.name}" for f in dataclasses.fields(Example)}


def test_only_the_flags_typed_are_given_converted_to_the_field_types():
    parser = parser_for()
    assert config_lib.given_arguments(parser.parse_args([]), Example, dest_prefix="example.") == {}
    args = parser.parse_args(["--count", "5", "--rate", "none", "--colour", "blue", "--no-verbose",
                              "--sizes", "4,32"])
    given = config_lib.given_arguments(args, Example, dest_prefix="example.")
    assert given == {"count": 5, "rate": None, "colour": Colour.BLUE, "verbose": False, "sizes": (4, 32)}
    assert Example(**given).sizes == (4, 32)


def test_a_bad_value_is_reported_as_its_flag():
    args = parser_for().parse_args(["--count", "many"])
    with pytest.raises(TfclfError, match=r"^--count expects int. Received: 'many'$"):
        config_lib.given_arguments(args, Example, dest_prefix="example.")


def test_without_a_prefix_other_arguments_are_left_alone():
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    config_lib.add_dataclass_arguments(parser, Example)
    args = parser.parse_args(["runs/x", "--count", "2"])
    assert config_lib.given_arguments(args, Example) == {"count": 2}


def test_every_config_class_gets_its_flags_from_the_generator():
    """fit's flags are exactly the run sections' fields, each in its section's group."""
    parser = argparse.ArgumentParser()
    config_lib.add_arguments(parser)
    for group in parser._action_groups:
        if group.title in config_lib.SECTIONS:
            fields = dataclasses.fields(config_lib.SECTIONS[group.title])
            assert [a.dest for a in group._group_actions] == [f"{group.title}.{f.name}" for f in fields]


def test_a_sections_help_shows_its_defaults():
    actions = {a.dest: a for a in parser_for(config_lib.DataConfig, "data.")._actions}
    assert actions["data.text_column"].help.endswith("(default: ('text',))")
    assert actions["data.split"].help.endswith("(default: (0.8, 0.1, 0.1))")
