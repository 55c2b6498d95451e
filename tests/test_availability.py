"""The expected useful share of a checkpoint-restart job (Daly 2006) in its known limits."""

import math

import pytest

from sim.availability import useful_fraction


def test_without_failures_only_the_checkpoint_writes_cost():
    assert useful_fraction(0.0, 1.0, 0.1, 0.5) == pytest.approx(1.0 / 1.1)


def test_rare_failures_cost_half_a_cycle_plus_a_restart_each():
    # first order in the rate r: lost share ~ r ((tau + W) / 2 + R) of the useful-cycle share
    r, tau, w, R = 1e-4, 0.5, 0.01, 0.05
    first_order = tau / (tau + w) * (1 - r * ((tau + w) / 2 + R))
    assert useful_fraction(r, tau, w, R) == pytest.approx(first_order, rel=1e-6)


def test_more_failures_or_slower_restarts_never_help():
    base = useful_fraction(4.0, 0.04, 0.003, 0.033)
    assert useful_fraction(8.0, 0.04, 0.003, 0.033) < base
    assert useful_fraction(4.0, 0.04, 0.003, 0.1) < base
    assert 0 < base < 1 and math.isfinite(base)
