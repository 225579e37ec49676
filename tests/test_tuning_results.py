"""What trials report and what a search writes; the best epoch is rundir's one rule."""
import pytest

from tfclf import rundir
from tfclf.errors import TfclfError
from tfclf.tuning import results


def test_best_epoch_metrics_follow_the_objective_direction():
    history = {"val_f1_macro": [0.5, 0.8, 0.7], "val_loss": [0.9, 0.6, 0.4], "loss": [1.0, 0.5, 0.3]}
    by_f1 = results.best_epoch_metrics(history, "val_f1_macro")
    assert by_f1 == {"val_f1_macro": 0.8, "val_loss": 0.6, "loss": 0.5, "best_epoch": 2.0, "epochs_run": 3.0}
    assert results.best_epoch_metrics(history, "val_loss")["best_epoch"] == 3.0
    assert results.best_epoch_metrics({"val_f1_macro": [float("nan"), 0.2]}, "val_f1_macro")["best_epoch"] == 2
    with pytest.raises(TfclfError, match="needs validation data"):
        results.best_epoch_metrics({"loss": [1.0]}, "val_f1_macro")


def test_trials_rank_by_the_objectives_mode():
    records = [results.TrialRecord(str(i), "COMPLETED", score, {}, {}) for i, score in enumerate([0.3, 0.1, 0.2])]
    assert [r.trial_id for r in results.rank(records, "val_loss")] == ["1", "2", "0"]
    assert [r.trial_id for r in results.rank(records, "val_f1_macro")] == ["0", "2", "1"]


def test_the_best_epoch_of_a_trial_is_the_runs_best_epoch():
    """A trial reports the epoch whose weights its run kept: rundir.best_epoch (NaN never wins,
    the earliest of equal values does)."""
    history = {"val_loss": [0.5, float("nan"), 0.4, 0.4], "val_f1_macro": [0.1, 0.9, 0.6, 0.9]}
    for objective, epoch in (("val_loss", 3), ("val_f1_macro", 2)):
        assert rundir.best_epoch(history[objective], objective) + 1 == epoch
        assert results.best_epoch_metrics(history, objective)["best_epoch"] == epoch
    with pytest.raises(TfclfError, match="Every epoch gave val_loss=nan"):
        results.best_epoch_metrics({"val_loss": [float("nan")]}, "val_loss")
