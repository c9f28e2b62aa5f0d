"""nusmooth.convergence: the step budget and the cap against Adam itself, the per-sub-epoch table, and
every branch of the convergence rule."""

import numpy as np
import pandas as pd
import pytest
import torch

from nusmooth.convergence import (
    AT_BUDGET,
    CANNOT_TELL,
    CONVERGED,
    STILL_MOVING,
    at_cap,
    convergence_verdict,
    step_budgets,
    steps_per_sub_epoch,
    sweep_convergence,
)


def history(rates, skipped=None, losses=None) -> pd.DataFrame:
    count = len(rates)
    return pd.DataFrame(
        {
            "sub_epoch": np.arange(1, count + 1),
            "learning_rate": rates,
            "mean_loss": losses if losses is not None else np.linspace(300, 100, count),
            "counted_fraction": 0.98,
            "skipped_batches": skipped if skipped is not None else [0] * count,
        }
    )


def test_the_budget_counts_the_steps_taken_at_each_sub_epochs_rate():
    assert steps_per_sub_epoch(2000, 32) == 63 and steps_per_sub_epoch(64, 32) == 2
    budgets = step_budgets(history([0.02, 0.01, 0.005], skipped=[0, 3, 0]), batches=63)
    np.testing.assert_allclose(budgets, [1.26, 1.26 + 0.60, 1.26 + 0.60 + 0.315])


def test_an_entry_whose_gradient_keeps_its_sign_reaches_the_cap_and_others_do_not():
    """Adam's closed form: with a gradient of constant sign its bias-corrected step is the learning rate
    itself, so such an entry travels the whole budget; an entry whose gradient alternates, or is zero,
    stays far below it. Three sub-epochs of 20 steps with the rate halved after each."""
    init = 0.25
    log_sigma = torch.full((3,), float(np.log(init)), requires_grad=True)
    optimizer = torch.optim.Adam([log_sigma], lr=0.02)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    rates = []
    for _ in range(3):
        rates.append(optimizer.param_groups[0]["lr"])
        for step in range(20):
            optimizer.zero_grad()
            (-(log_sigma[0] * 3.0) + log_sigma[1] * (-1) ** step * 2.0 + 0 * log_sigma[2]).backward()
            optimizer.step()
        schedule.step()
    budget = step_budgets(history(rates), batches=20)[-1]
    sigma = log_sigma.detach().exp().numpy()
    assert abs(np.log(sigma[0] / init)) == pytest.approx(budget, rel=1e-4)
    assert at_cap(sigma, init, budget).tolist() == [True, False, False]
    assert not at_cap(sigma, init, 0.0).any()  # no step taken: nothing can be at the cap


def sweep(val_means, intervals, cap_entries=0, rates=(0.02, 0.01, 0.005)) -> pd.DataFrame:
    """A sweep of 100 entries from 0.25 whose last snapshot has ``cap_entries`` entries at the cap."""
    count = len(rates)
    budgets = step_budgets(history(list(rates)), batches=10)
    snapshots = []
    for budget in budgets:
        sigma = np.full(100, 0.3)
        sigma[:cap_entries] = 0.25 * np.exp(budget)
        snapshots.append(sigma)
    validation = pd.DataFrame(
        {
            "sub_epoch": np.arange(1, count + 1),
            "accuracy": 0.9,
            "accuracy_lower": 0.85,
            "accuracy_upper": 0.94,
            "mean_area": val_means,
            "mean_area_lower": [lo for lo, _ in intervals],
            "mean_area_upper": [hi for _, hi in intervals],
        }
    )
    return sweep_convergence(history(list(rates)), snapshots, validation, init=0.25, batches=10)


def test_the_table_has_one_row_per_sub_epoch_with_the_budget_and_the_cap():
    table = sweep([-600, -500, -490], [(-650, -560), (-540, -470), (-520, -470)], cap_entries=3)
    assert table["sub_epoch"].tolist() == [1, 2, 3]
    assert table["steps"].tolist() == [10, 10, 10] and table["entries"].tolist() == [100] * 3
    assert table["at_cap"].tolist() == [3, 3, 3]
    np.testing.assert_allclose(table["step_budget"], [0.2, 0.3, 0.35])
    np.testing.assert_allclose(table["largest_move"], [0.2, 0.3, 0.35])
    np.testing.assert_allclose(table["objective"], [-300, -200, -100])


def test_a_sweep_whose_last_change_is_inside_the_interval_and_with_no_entry_at_the_cap_converged():
    verdict, because = convergence_verdict(sweep([-600, -500, -490], [(-650, -560), (-540, -470), (-520, -470)]))
    assert verdict == CONVERGED
    assert "-500 -> -490 in sub-epoch 3" in because and "0 of 100 entries (0.0%) at the step cap" in because


def test_one_percent_of_the_entries_at_the_cap_means_the_budget_stopped_it():
    verdict, because = convergence_verdict(
        sweep([-600, -500, -490], [(-650, -560), (-540, -470), (-520, -470)], cap_entries=1)
    )
    assert verdict == AT_BUDGET and "1 of 100 entries (1.0%)" in because


def test_a_last_change_outside_the_interval_is_still_moving():
    verdict, because = convergence_verdict(sweep([-600, -560, -490], [(-650, -560), (-600, -530), (-520, -470)]))
    assert verdict == STILL_MOVING and "outside it" in because


@pytest.mark.parametrize(
    "table",
    [
        lambda: sweep([-600], [(-650, -560)], rates=(0.02,)),
        lambda: sweep([-600, -500, -490], [(-650, -560), (-540, -470), (np.nan, np.nan)]),
    ],
    ids=["one sub-epoch", "no interval"],
)
def test_one_sub_epoch_or_no_validation_interval_cannot_tell(table):
    assert convergence_verdict(table())[0] == CANNOT_TELL


def test_history_and_snapshots_of_two_sweeps_are_refused():
    with pytest.raises(ValueError, match="one sweep"):
        sweep_convergence(history([0.02, 0.01]), [np.ones(3)], pd.DataFrame(), init=0.25, batches=10)
