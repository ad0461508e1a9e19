"""Times as productions write them: every form read to the exact UTC instant,
with the original text and the zone it was read in; nothing guessed."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from evidpack.timeparse import TimeProblem, parse_zone, read_time, zone_in_header

UTC8 = parse_zone("+08:00")


@pytest.mark.parametrize(
    "value, utc, zone, source, form",
    [
        ("2026-03-11 14:02:09 UTC", "2026-03-11T14:02:09Z", "UTC", "value", "ymd"),
        ("2026-03-11T14:02:09Z", "2026-03-11T14:02:09Z", "UTC", "value", "ymd"),
        ("2026-03-11 14:02:09+08:00", "2026-03-11T06:02:09Z", "+08:00", "value", "ymd"),
        ("2026-03-11 14:02:09 +0800", "2026-03-11T06:02:09Z", "+08:00", "value", "ymd"),
        ("2026-03-11 14:02:09 GMT+8", "2026-03-11T06:02:09Z", "+08:00", "value", "ymd"),
        ("2026-03-11 14:02:09 (UTC+08:00)", "2026-03-11T06:02:09Z", "+08:00", "value", "ymd"),
        ("2026-03-11 01:02:09 UTC-05:30", "2026-03-11T06:32:09Z", "-05:30", "value", "ymd"),
        ("2026-03-11T14:02:09.250+08:00", "2026-03-11T06:02:09.25Z", "+08:00", "value", "ymd"),
        ("2026-03-11 14:02:09", "2026-03-11T06:02:09Z", "+08:00", "manifest", "ymd"),
        ("2026/03/11 14:02", "2026-03-11T06:02:00Z", "+08:00", "manifest", "ymd"),
        ("2026年3月11日 14:02:09", "2026-03-11T06:02:09Z", "+08:00", "manifest", "ymd"),
        ("11 Mar 2026 14:02:09", "2026-03-11T06:02:09Z", "+08:00", "manifest", "d-mon-y"),
        ("Mar 11, 2026 2:02:09 PM", "2026-03-11T06:02:09Z", "+08:00", "manifest", "mon-d-y"),
        ("Wed, 11 Mar 2026 06:02:09 -0000", "2026-03-11T06:02:09Z", "UTC", "value", "d-mon-y"),
        ("1773208929", "2026-03-11T06:02:09Z", "UTC", "epoch", "epoch-seconds"),
        ("1773208929123", "2026-03-11T06:02:09.123Z", "UTC", "epoch", "epoch-milliseconds"),
        (1773208929, "2026-03-11T06:02:09Z", "UTC", "epoch", "epoch-seconds"),
        (46092.58482638889, "2026-03-11T06:02:09Z", "+08:00", "manifest", "excel-serial"),
        ("46092.5", "2026-03-11T04:00:00Z", "+08:00", "manifest", "excel-serial"),
        (datetime(2026, 3, 11, 14, 2, 9), "2026-03-11T06:02:09Z", "+08:00", "manifest", "date-cell"),
    ],
)
def test_each_form_gives_the_exact_utc_instant(value, utc, zone, source, form) -> None:
    t = read_time(value, zone=UTC8)
    assert (t.utc, t.zone, t.zone_source, t.form) == (utc, zone, source, form)
    assert t.original == (value if isinstance(value, str) else str(value) if not isinstance(value, datetime) else "2026-03-11 14:02:09")


def test_a_zone_in_the_value_wins_over_the_stated_zone() -> None:
    t = read_time("2026-03-11 14:02:09 UTC", zone=UTC8)
    assert t.utc == "2026-03-11T14:02:09Z" and t.zone_source == "value"


def test_a_naive_time_without_a_stated_zone_is_refused() -> None:
    with pytest.raises(TimeProblem, match="never guesses a zone"):
        read_time("2026-03-11 14:02:09")
    with pytest.raises(TimeProblem, match="never guesses a zone"):
        read_time(datetime(2026, 3, 11, 14, 2, 9))
    with pytest.raises(TimeProblem, match="never guesses a zone"):
        read_time(46092.5)


def test_epoch_times_need_no_zone() -> None:
    assert read_time("1773208929").utc == "2026-03-11T06:02:09Z"


@pytest.mark.parametrize("value", ["03/04/2026 10:00", "03.04.2026 10:00", "03-04-2026 10:00"])
def test_day_month_order_is_never_guessed(value: str) -> None:
    with pytest.raises(TimeProblem, match='set options.date_order to "DMY" or "MDY"'):
        read_time(value, zone=UTC8)
    assert read_time(value, zone=UTC8, date_order="DMY").utc == "2026-04-03T02:00:00Z"
    assert read_time(value, zone=UTC8, date_order="MDY").utc == "2026-03-04T02:00:00Z"


def test_even_an_unambiguous_day_first_date_needs_the_order_but_the_message_says_which() -> None:
    with pytest.raises(TimeProblem, match=r"it can only be DMY"):
        read_time("13/03/2026 10:00", zone=UTC8)
    with pytest.raises(TimeProblem, match="not a valid date"):
        read_time("13/03/2026 10:00", zone=UTC8, date_order="MDY")


@pytest.mark.parametrize("value", ["2026-03-11 14:02:09 CST", "2026-03-11 14:02:09 IST"])
def test_ambiguous_zone_abbreviations_are_refused(value: str) -> None:
    with pytest.raises(TimeProblem, match="without guessing"):
        read_time(value, zone=UTC8)


@pytest.mark.parametrize("value", ["2026-02-30 10:00:00", "2026-03-11 25:00:00", "99999999", "yesterday", ""])
def test_impossible_or_unknown_values_are_problems(value: str) -> None:
    with pytest.raises(TimeProblem):
        read_time(value, zone=UTC8)


def test_iana_zones_apply_daylight_saving_and_refuse_gaps_and_repeats() -> None:
    ny = parse_zone("America/New_York")
    assert read_time("2026-07-01 12:00:00", zone=ny).utc == "2026-07-01T16:00:00Z"
    assert read_time("2026-01-15 12:00:00", zone=ny).utc == "2026-01-15T17:00:00Z"
    with pytest.raises(TimeProblem, match="does not exist"):
        read_time("2026-03-08 02:30:00", zone=ny)
    with pytest.raises(TimeProblem, match="is ambiguous"):
        read_time("2026-11-01 01:30:00", zone=ny)


def test_a_date_without_time_is_kept_as_a_date_where_allowed() -> None:
    t = read_time("2019-05-01", date_only_ok=True)
    assert (t.date, t.utc, t.zone) == ("2019-05-01", None, None)
    assert read_time(date(2019, 5, 1), date_only_ok=True).date == "2019-05-01"
    with pytest.raises(TimeProblem, match="date without a time"):
        read_time("2019-05-01")


@pytest.mark.parametrize(
    "header, zone",
    [
        ("Login Time (UTC+8)", "+08:00"),
        ("Registration Time (GMT+08:00)", "+08:00"),
        ("时间（北京时间）", "+08:00"),
        ("time_utc", "UTC"),
        ("Time (UTC)", "UTC"),
        ("Login IP (IPv4/IPv6)", None),
        ("Login Time", None),
    ],
)
def test_zone_stated_in_a_column_header(header: str, zone: str | None) -> None:
    found = zone_in_header(header)
    assert (found.label if found else None) == zone


@pytest.mark.parametrize("text", ["CST", "Asia", "+25:00", "../etc/passwd", "UTC+8:99"])
def test_bad_zones_are_refused(text: str) -> None:
    with pytest.raises(TimeProblem):
        parse_zone(text)
