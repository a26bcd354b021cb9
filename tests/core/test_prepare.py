"""The one input pipeline (:func:`mae_core.views.prepare.prepare`, issue 22): its errors name arguments, not
flags, and the memory check comes before anything is read or allocated."""

from __future__ import annotations

import pytest

from mae_core.errors import MemoryBudgetError, SettingError
from mae_core.views import memory_budget
from mae_core.views.prepare import masking_plan, prepare, size_overrides


@pytest.mark.parametrize("kwargs, setting, words", [
    ({"img_size": "22a"}, "img_size", ["'22a' is not a size"]),
    ({"img_size": 230}, "img_size", ["230", "multiple"]),
    ({"in_chans": 0}, "in_chans", ["at least 1"]),
])
def test_size_errors_name_the_argument_not_a_flag(kwargs, setting, words):
    with pytest.raises(SettingError) as info:
        size_overrides("base", **kwargs)
    assert info.value.setting == setting and "--" not in str(info.value)
    assert all(w in str(info.value) for w in words)


def test_pictures_take_one_or_three_channels_and_the_message_shows_the_value():
    with pytest.raises(SettingError) as info:
        size_overrides("base", in_chans=2, pictures=True)
    assert (info.value.setting, info.value.given) == ("in_chans", "2") and str(info.value).startswith("in_chans 2:")


def test_an_unknown_mask_strategy_names_the_setting():
    from mae_core.models import get_variant

    with pytest.raises(SettingError) as info:
        masking_plan("diagonal", None, get_variant("base").config, 1, 0.75, 0)
    assert info.value.setting == "mask" and "block" in str(info.value)


def test_the_memory_check_comes_before_the_images_are_read(monkeypatch, tmp_path):
    """With no memory to spare, the run is refused with the estimate before the (missing) image is opened:
    the check runs once, before anything large exists."""
    monkeypatch.setattr(memory_budget, "available_memory", lambda device: memory_budget.Available(1, "test"))
    with pytest.raises(MemoryBudgetError, match="needs about"):
        prepare("base", None, [tmp_path / "missing.png"], None, 0)
