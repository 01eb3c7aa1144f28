"""Ids from paths, forms and queries: one parser, the column's range, the field named."""

import pytest

from hub_ext.portal.common import ids
from hub_ext.portal.activities.feed import parse_paging
from hub_ext.store.models import Reservation
from hub_ext.store.models_accounts import OtpCredential
from hub_ext.store.models_portal import Activity, Announcement


@pytest.mark.parametrize("text, expected", [("1", 1), ("42", 42), ("2147483647", 2**31 - 1), (7, 7)])
def test_ids_in_range_are_taken(text, expected):
    assert ids.parse_id(text, "id", Announcement.id) == expected


@pytest.mark.parametrize("text", [
    "9" * 20, "9" * 30, "2147483648", "0", "-1", "+1", " 1", "1 ", "1_0", "1e3", "1.0", "0x10", "abc", "",
    "١٢", "９", True, 1.0, None, [1], 2**31, 10**40,
])
def test_anything_else_is_refused_naming_the_field(text):
    with pytest.raises(ids.BadId) as info:
        ids.parse_id(text, "id", Announcement.id)
    assert info.value.errors == {"id": "must be a whole number from 1 to 2147483647"}
    assert str(info.value) == "id: must be a whole number from 1 to 2147483647"


def test_the_range_is_the_columns():
    assert ids.column_max(Activity.id) == ids.column_max(Reservation.id) == 2**31 - 1
    assert ids.column_max(OtpCredential.last_step) == 2**63 - 1  # a BigInteger column
    assert ids.parse_id(str(2**40), "step", OtpCredential.last_step) == 2**40
    with pytest.raises(ids.BadId):
        ids.parse_id(str(2**63), "step", OtpCredential.last_step)


def test_optional_ids_and_an_upper_bound():
    assert ids.optional_id("", "before", Activity.id) is None
    assert ids.optional_id(None, "before", Activity.id) is None
    assert ids.optional_id("5", "limit", high=10) == 5
    with pytest.raises(ids.BadId, match="limit: must be a whole number from 1 to 10"):
        ids.optional_id("11", "limit", high=10)


def test_paging_arguments_use_the_same_parser():
    assert parse_paging("20", "7") == (20, 7, {})
    assert parse_paging(None, "9" * 23) == (None, None, {"before": "must be a whole number from 1 to 2147483647"})
    limit, before, errors = parse_paging("1e999", "abc")
    assert (limit, before) == (None, None) and set(errors) == {"limit", "before"}
    assert errors["limit"] == "must be a whole number from 1 to 200"
