"""The decision kernel: the one channel rule, arrays in, arrays out.

Order per declaration item:

1. a non-advisory profile hit forces the action of the highest-priority hit (``profile``);
2. otherwise the random control draw u decides first: u < random_red -> red, u < random_red +
   random_orange -> orange (``random``), whatever the model says;
3. otherwise the model: adjusted key >= red threshold -> red, >= orange threshold -> orange, else
   green (``model``); without a model (or a score) the policy's default channel (``default``);
4. a managed-list entry raises the channel of steps 1-3 to its least channel (``list`` when
   the list's channel is at least the one steps 1-3 gave): a channel only goes up.

Propensity (the probability, over the random draw, of the recorded outcome's selection):
``propensity`` = P(red or orange) and ``propensity_red`` = P(red) for this item given its data and
the state (policy, thresholds, profiles). With q = 1 - random_red - random_orange and ``base`` the
channel of step 3: forced by a profile -> 1 and (1 if red else 0); otherwise
``propensity = random_red + random_orange + q * [base != green]`` and
``propensity_red = random_red + q * [base == red]``. So a model/profile selection has propensity 1,
a random-only selection and a green item have the random share. P(orange) = propensity -
propensity_red. Inverse-propensity weights are 1 / propensity over the inspected items. A list's
least channel (step 4) makes ``propensity`` 1, and ``propensity_red`` 1 when it is red (when it
is orange the item is red exactly when steps 1-3 give red: their ``propensity_red`` stands).

Who is explained: an item gets the model's reasons when the model scored it and sent it to red or
orange (``model_channel``), or, with ``explain_green``, whenever the model scored it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from customs_risk.selection.random_control import random_channel

GREEN, ORANGE, RED = 0, 1, 2
CHANNELS = ("green", "orange", "red")
CHANNEL_CODES = {name: code for code, name in enumerate(CHANNELS)}
NO_CHANNEL = len(CHANNELS)  # model_channel code of an item the model did not score
MODEL, PROFILE, RANDOM, DEFAULT, LIST = range(5)
SELECTED_BY = ("model", "profile", "random", "default", "list")


@dataclass(frozen=True)
class KernelInput:
    """Per-row arrays the rule reads (all of one length).

    ``forced``: the forcing profile's action (0 none, 1 orange, 2 red); ``control_draw``: u in
    [0, 1); ``random_red`` / ``random_orange``: the office's random-control shares; ``key``: the
    adjusted ranking key (NaN: not scored), ``t_red`` / ``t_orange``: the office's thresholds;
    the last three None when there is no model; ``listed``: the least channel managed lists
    impose (0 none, 1 orange, 2 red; None: no list applies).
    """

    forced: np.ndarray
    control_draw: np.ndarray
    random_red: np.ndarray
    random_orange: np.ndarray
    key: np.ndarray | None = None
    t_red: np.ndarray | None = None
    t_orange: np.ndarray | None = None
    listed: np.ndarray | None = None


@dataclass(frozen=True)
class KernelOutput:
    """Per-row results: codes into CHANNELS / SELECTED_BY (model_channel NO_CHANNEL: unscored)."""

    channel: np.ndarray
    selected_by: np.ndarray
    model_channel: np.ndarray
    propensity: np.ndarray
    propensity_red: np.ndarray
    explain: np.ndarray

    @property
    def scored(self) -> np.ndarray:
        """Rows the model scored."""
        return self.model_channel != NO_CHANNEL


def channel_kernel(
    inputs: KernelInput,
    default_channel: int,
    explain_green: bool = False,
    explain: bool = True,
) -> KernelOutput:
    """Apply the channel rule (module docstring) to every row; ``explain`` False: nobody gets
    reasons (a policy with ``top_reasons`` 0)."""
    forced = np.asarray(inputs.forced, dtype=np.int8)
    n = len(forced)
    rr = np.asarray(inputs.random_red, dtype=np.float64)
    ro = np.asarray(inputs.random_orange, dtype=np.float64)
    rand = random_channel(np.asarray(inputs.control_draw, dtype=np.float64), rr, ro)
    if inputs.key is None:
        scored = np.zeros(n, dtype=bool)
        model = np.zeros(n, dtype=np.int8)
    else:
        if inputs.t_red is None or inputs.t_orange is None:
            raise ValueError("a key needs the red and orange thresholds")
        key = np.asarray(inputs.key, dtype=np.float64)
        scored = np.isfinite(key)
        with np.errstate(invalid="ignore"):
            model = np.where(
                key >= inputs.t_red, RED, np.where(key >= inputs.t_orange, ORANGE, GREEN)
            ).astype(np.int8)
    base = np.where(scored, model, default_channel).astype(np.int8)
    base_by = np.where(scored, MODEL, DEFAULT).astype(np.int8)
    model_channel = np.where(scored, model, NO_CHANNEL).astype(np.int8)

    is_forced = forced > 0
    is_random = ~is_forced & (rand > 0)
    channel = np.where(is_forced, forced, np.where(is_random, rand, base)).astype(np.int8)
    selected_by = np.where(is_forced, PROFILE, np.where(is_random, RANDOM, base_by)).astype(np.int8)
    q = 1.0 - rr - ro
    propensity = np.where(is_forced, 1.0, rr + ro + q * (base > GREEN))
    propensity_red = np.where(is_forced, (forced == RED).astype(np.float64), rr + q * (base == RED))
    if inputs.listed is not None:
        listed = np.asarray(inputs.listed, dtype=np.int8)
        on_list = listed > GREEN
        selected_by = np.where(on_list & (listed >= channel), LIST, selected_by).astype(np.int8)
        channel = np.maximum(channel, listed).astype(np.int8)
        propensity = np.where(on_list, 1.0, propensity)
        propensity_red = np.where(listed == RED, 1.0, propensity_red)
    if not explain:
        explained = np.zeros(n, dtype=bool)
    else:
        explained = scored if explain_green else scored & (model > GREEN)
    return KernelOutput(channel, selected_by, model_channel, propensity, propensity_red, explained)
