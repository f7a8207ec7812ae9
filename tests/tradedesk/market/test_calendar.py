"""The NYSE session calendar against the exchange's published holidays, and the always-open calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tradedesk.market.calendar import NYSE, AlwaysOpen, TradingSession, calendar_from_env, easter

NEW_YORK = ZoneInfo("America/New_York")

# NYSE Group's published holiday calendars (full-day closures as observed, and the 13:00 early closes)
PUBLISHED = {
    2025: (
        ["01-01", "01-20", "02-17", "04-18", "05-26", "06-19", "07-04", "09-01", "11-27", "12-25"],
        ["07-03", "11-28", "12-24"],
    ),
    2026: (
        ["01-01", "01-19", "02-16", "04-03", "05-25", "06-19", "07-03", "09-07", "11-26", "12-25"],
        ["11-27", "12-24"],
    ),
    2027: (
        ["01-01", "01-18", "02-15", "03-26", "05-31", "06-18", "07-05", "09-06", "11-25", "12-24"],
        ["11-26"],
    ),
    2028: (  # New Year's Day falls on a Saturday: no holiday is observed for it
        ["01-17", "02-21", "04-14", "05-29", "06-19", "07-04", "09-04", "11-23", "12-25"],
        ["07-03", "11-24"],
    ),
}


def ny(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def days(year: int, month_days: list[str]) -> list[date]:
    return [date(year, int(md[:2]), int(md[3:])) for md in month_days]


def trading_days(year: int) -> list[date]:
    first = date(year, 1, 1)
    every = (first + timedelta(days=n) for n in range(366))
    return [d for d in every if d.year == year and NYSE.session_on(d) is not None]


@pytest.mark.parametrize("year", sorted(PUBLISHED))
def test_holidays_match_the_published_nyse_calendar(year: int) -> None:
    holidays, _ = PUBLISHED[year]
    assert sorted(NYSE.holidays(year)) == days(year, holidays)
    for day in days(year, holidays):
        assert NYSE.session_on(day) is None
        assert not NYSE.is_open(datetime.combine(day, datetime.min.time(), tzinfo=NEW_YORK) + timedelta(hours=12))


@pytest.mark.parametrize("year", sorted(PUBLISHED))
def test_early_closes_are_at_13_00_new_york_and_every_other_session_at_16_00(year: int) -> None:
    _, early = PUBLISHED[year]
    for day in trading_days(year):
        session = NYSE.session_on(day)
        assert session is not None
        assert session.open.astimezone(NEW_YORK).time().isoformat() == "09:30:00"
        close = session.close.astimezone(NEW_YORK).time().isoformat()
        assert close == ("13:00:00" if day in days(year, early) else "16:00:00"), day


def test_observed_holidays_are_named_as_observed() -> None:
    assert NYSE.holidays(2026)[date(2026, 7, 3)] == "Independence Day (observed)"
    assert NYSE.holidays(2027)[date(2027, 12, 24)] == "Christmas Day (observed)"
    assert NYSE.holidays(2027)[date(2027, 6, 18)] == "Juneteenth National Independence Day (observed)"
    assert NYSE.holidays(2022)[date(2022, 1, 17)] == "Martin Luther King, Jr. Day"
    assert NYSE.holidays(2023)[date(2023, 1, 2)] == "New Year's Day (observed)"  # Jan 1 was a Sunday
    assert NYSE.holidays(2026)[date(2026, 4, 3)] == "Good Friday"


def test_new_years_day_on_a_saturday_leaves_december_31_a_full_session() -> None:
    assert date(2027, 12, 31) not in NYSE.holidays(2027) and date(2028, 1, 1) not in NYSE.holidays(2028)
    assert NYSE.session_on(date(2027, 12, 31)) == TradingSession(
        ny(2027, 12, 31, 9, 30).astimezone(UTC), ny(2027, 12, 31, 16).astimezone(UTC)
    )


def test_juneteenth_is_a_holiday_from_2022() -> None:
    assert date(2021, 6, 18) not in NYSE.holidays(2021) and date(2021, 6, 19) not in NYSE.holidays(2021)
    assert date(2022, 6, 20) in NYSE.holidays(2022)  # June 19, 2022 was a Sunday


def test_easter_by_the_anonymous_gregorian_algorithm() -> None:
    known = {2000: (4, 23), 2019: (4, 21), 2024: (3, 31), 2025: (4, 20), 2026: (4, 5), 2038: (4, 25), 2285: (3, 22)}
    assert {year: easter(year) for year in known} == {y: date(y, m, d) for y, (m, d) in known.items()}


def test_weekends_never_trade() -> None:
    saturday = ny(2025, 3, 8, 12)
    assert not NYSE.is_open(saturday) and not NYSE.is_open(saturday + timedelta(days=1))
    assert NYSE.session_at(saturday) is None
    assert NYSE.next_session(saturday).open == ny(2025, 3, 10, 9, 30).astimezone(UTC)


def test_the_session_runs_from_9_30_up_to_but_not_including_16_00() -> None:
    session = NYSE.session_at(ny(2025, 3, 4, 12))
    assert session == TradingSession(ny(2025, 3, 4, 9, 30).astimezone(UTC), ny(2025, 3, 4, 16).astimezone(UTC))
    assert not NYSE.is_open(ny(2025, 3, 4, 9, 29)) and NYSE.is_open(ny(2025, 3, 4, 9, 30))
    assert NYSE.is_open(ny(2025, 3, 4, 15, 59)) and not NYSE.is_open(ny(2025, 3, 4, 16))
    assert ny(2025, 3, 4, 15, 59) in session and ny(2025, 3, 4, 16) not in session


def test_next_session_is_the_current_one_else_the_next_to_open() -> None:
    today = NYSE.session_on(date(2025, 3, 4))
    tomorrow = NYSE.session_on(date(2025, 3, 5))
    assert NYSE.next_session(ny(2025, 3, 4, 8)) == today  # before the open
    assert NYSE.next_session(ny(2025, 3, 4, 11)) == today  # during
    assert NYSE.next_session(ny(2025, 3, 4, 16)) == tomorrow  # at the close
    assert NYSE.next_session(ny(2025, 3, 4, 23, 59)) == tomorrow
    # over a long weekend: Friday's close to Tuesday, past Good Friday and the weekend
    assert NYSE.next_session(ny(2025, 4, 17, 16, 30)).open == ny(2025, 4, 21, 9, 30).astimezone(UTC)
    # the early close ends that session at 13:00
    assert NYSE.next_session(ny(2025, 11, 28, 13)).open == ny(2025, 12, 1, 9, 30).astimezone(UTC)


def test_sessions_follow_new_york_daylight_saving_time() -> None:
    # 2025: EDT starts Sunday March 9, ends Sunday November 2
    before, after = NYSE.session_on(date(2025, 3, 7)), NYSE.session_on(date(2025, 3, 10))
    assert before == TradingSession(datetime(2025, 3, 7, 14, 30, tzinfo=UTC), datetime(2025, 3, 7, 21, tzinfo=UTC))
    assert after == TradingSession(datetime(2025, 3, 10, 13, 30, tzinfo=UTC), datetime(2025, 3, 10, 20, tzinfo=UTC))
    autumn = NYSE.session_on(date(2025, 10, 31)), NYSE.session_on(date(2025, 11, 3))
    assert [s.open.hour if s else None for s in autumn] == [13, 14]
    assert NYSE.is_open(datetime(2025, 3, 10, 13, 45, tzinfo=UTC))  # 9:45 EDT
    assert not NYSE.is_open(datetime(2025, 3, 7, 14, 15, tzinfo=UTC))  # 9:15 EST


def test_naive_datetimes_are_refused() -> None:
    for calendar in (NYSE, AlwaysOpen()):
        for call in (calendar.is_open, calendar.session_at, calendar.next_session):
            with pytest.raises(ValueError, match="no time zone"):
                call(datetime(2025, 3, 4, 12))


def test_always_open_has_one_session_per_utc_day() -> None:
    always = AlwaysOpen()
    at = datetime(2025, 3, 8, 23, 59, 59, tzinfo=UTC)  # a Saturday
    day = TradingSession(datetime(2025, 3, 8, tzinfo=UTC), datetime(2025, 3, 9, tzinfo=UTC))
    assert always.is_open(at) and always.session_at(at) == always.next_session(at) == day
    assert always.next_session(day.close) == TradingSession(day.close, day.close + timedelta(days=1))
    assert always.holidays(2025) == {}


def test_the_environment_chooses_the_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADEDESK_EXCHANGE_HOURS", raising=False)
    assert calendar_from_env() is NYSE
    monkeypatch.setenv("TRADEDESK_EXCHANGE_HOURS", "always")
    assert isinstance(calendar_from_env(), AlwaysOpen)
    monkeypatch.setenv("TRADEDESK_EXCHANGE_HOURS", "NYSE")
    assert calendar_from_env() is NYSE
    monkeypatch.setenv("TRADEDESK_EXCHANGE_HOURS", "24/7")
    with pytest.raises(ValueError, match="TRADEDESK_EXCHANGE_HOURS must be nyse or always"):
        calendar_from_env()
