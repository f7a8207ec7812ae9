"""The market layer: the `Market` protocol and its implementations (simulated, CSV replay, historical), bars,
tickers, trading hours and clocks.

The bottom layer of tradedesk: it imports nothing else of the platform, and nothing in it loads a database.
"""

from tradedesk.market.bars import BadBarsRequest, Bars, interval_of, recent
from tradedesk.market.calendar import NYSE, AlwaysOpen, Calendar, NyseCalendar, TradingSession, calendar_from_env
from tradedesk.market.clock import Clock, ManualClock, SimulatedClock, aware, clock_from_env, real_clock, utcnow
from tradedesk.market.csv_market import CsvFormatError, CsvMarket, load_bars
from tradedesk.market.historical import HistoricalMarket, LookAhead, NoFundamentals
from tradedesk.market.history import History, HistoryError
from tradedesk.market.money import CENT, SCALE, cents, cents_down, cents_up, dollars
from tradedesk.market.protocol import Bar, Fundamentals, Market, Quote, UnknownSymbol, fundamentals_at
from tradedesk.market.simulated import EPOCH, SimulatedMarket, default_market, minute_of
from tradedesk.market.tickers import TICKERS, Ticker

__all__ = [
    "CENT",
    "EPOCH",
    "NYSE",
    "SCALE",
    "TICKERS",
    "AlwaysOpen",
    "BadBarsRequest",
    "Bar",
    "Bars",
    "Calendar",
    "Clock",
    "CsvFormatError",
    "CsvMarket",
    "Fundamentals",
    "HistoricalMarket",
    "History",
    "HistoryError",
    "LookAhead",
    "ManualClock",
    "Market",
    "NoFundamentals",
    "NyseCalendar",
    "Quote",
    "SimulatedClock",
    "SimulatedMarket",
    "Ticker",
    "TradingSession",
    "UnknownSymbol",
    "aware",
    "calendar_from_env",
    "cents",
    "cents_down",
    "cents_up",
    "clock_from_env",
    "default_market",
    "dollars",
    "fundamentals_at",
    "interval_of",
    "load_bars",
    "minute_of",
    "real_clock",
    "recent",
    "utcnow",
]
