"""Reference data of the simulated market: real US tickers with plausible (approximate, 2024-25) figures.

Prices, volatilities and fundamentals are rounded public figures, good enough for a simulation and
never advice. The simulated price of each ticker mean-reverts around `price`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ticker:
    """One listed security: identity, how its price behaves, and its fundamentals."""

    symbol: str
    name: str
    sector: str
    price: float  # the level the simulated price mean-reverts to, USD
    volatility: float  # annualized
    spread_bps: float  # ask - bid, in basis points of the price
    avg_volume: int  # shares per day
    eps: float  # trailing twelve months, USD per share (negative: losses)
    revenue_growth: float  # year over year, fraction
    operating_margin: float
    net_margin: float
    debt_to_equity: float
    dividend_yield: float  # at `price`; the dividend per share stays fixed as the price moves


SECTORS = {
    "tech": "Technology",
    "comm": "Communication Services",
    "discr": "Consumer Discretionary",
    "staples": "Consumer Staples",
    "health": "Health Care",
    "fin": "Financials",
    "energy": "Energy",
    "etf": "ETF",
}

# price: the level the simulated price mean-reverts to (USD); sigma: annualized volatility; bps: the spread, ask - bid,
# in basis points; adv_m: average daily volume, millions of shares; eps: trailing twelve months (negative: losses);
# rev_g: revenue growth, year over year; op_m, net_m: operating and net margins; d/e: debt/equity; yield: dividend
# yield at `price`. Ratios are fractions.
_TABLE = """
sym   | name                   | sector  | price | sigma | bps | adv_m | eps   | rev_g | op_m  | net_m | d/e  | yield
AAPL  | Apple                  | tech    | 230   | 0.25  | 1.5 | 50    | 6.60  | 0.05  | 0.31  | 0.24  | 1.50 | 0.0044
MSFT  | Microsoft              | tech    | 420   | 0.24  | 1.5 | 20    | 12.40 | 0.15  | 0.45  | 0.36  | 0.30 | 0.0078
NVDA  | NVIDIA                 | tech    | 135   | 0.5   | 2   | 250   | 2.90  | 1.1   | 0.62  | 0.55  | 0.15 | 0.0003
AMZN  | Amazon.com             | discr   | 200   | 0.32  | 2   | 40    | 5.50  | 0.11  | 0.11  | 0.09  | 0.55 | 0
GOOGL | Alphabet               | comm    | 175   | 0.3   | 2   | 25    | 8.00  | 0.14  | 0.32  | 0.28  | 0.10 | 0.0046
META  | Meta Platforms         | comm    | 580   | 0.38  | 2   | 15    | 22.00 | 0.22  | 0.4   | 0.35  | 0.28 | 0.0035
TSLA  | Tesla                  | discr   | 250   | 0.6   | 3   | 90    | 2.40  | 0.01  | 0.08  | 0.07  | 0.18 | 0
JPM   | JPMorgan Chase         | fin     | 220   | 0.22  | 2   | 9     | 18.00 | 0.12  | 0.4   | 0.32  | 1.30 | 0.022
BAC   | Bank of America        | fin     | 44    | 0.25  | 2.5 | 35    | 3.20  | 0.03  | 0.3   | 0.26  | 1.10 | 0.024
V     | Visa                   | fin     | 290   | 0.2   | 2   | 7     | 10.00 | 0.1   | 0.67  | 0.55  | 0.55 | 0.0075
JNJ   | Johnson & Johnson      | health  | 155   | 0.16  | 2   | 7     | 5.80  | 0.04  | 0.25  | 0.16  | 0.50 | 0.032
PFE   | Pfizer                 | health  | 26    | 0.22  | 4   | 35    | 1.40  | 0.07  | 0.2   | 0.13  | 0.70 | 0.065
MRK   | Merck                  | health  | 100   | 0.2   | 2   | 9     | 6.70  | 0.07  | 0.3   | 0.26  | 0.80 | 0.031
UNH   | UnitedHealth Group     | health  | 520   | 0.25  | 2   | 4     | 15.50 | 0.08  | 0.07  | 0.04  | 0.80 | 0.016
LLY   | Eli Lilly              | health  | 800   | 0.3   | 2   | 3     | 11.70 | 0.32  | 0.38  | 0.24  | 2.00 | 0.0065
PG    | Procter & Gamble       | staples | 165   | 0.16  | 2   | 7     | 6.00  | 0.02  | 0.24  | 0.18  | 0.70 | 0.024
KO    | Coca-Cola              | staples | 65    | 0.15  | 2   | 14    | 2.50  | 0.03  | 0.29  | 0.23  | 1.60 | 0.03
PEP   | PepsiCo                | staples | 160   | 0.17  | 2   | 6     | 6.90  | 0.01  | 0.14  | 0.1   | 2.40 | 0.034
WMT   | Walmart                | staples | 85    | 0.18  | 2   | 15    | 2.40  | 0.05  | 0.042 | 0.028 | 0.50 | 0.011
COST  | Costco Wholesale       | staples | 900   | 0.2   | 2   | 2     | 16.60 | 0.05  | 0.035 | 0.029 | 0.30 | 0.005
HD    | Home Depot             | discr   | 390   | 0.22  | 2   | 3.5   | 15.00 | 0.04  | 0.13  | 0.1   | 7.00 | 0.023
DIS   | Walt Disney            | comm    | 110   | 0.28  | 2   | 9     | 2.70  | 0.04  | 0.13  | 0.055 | 0.40 | 0.009
NFLX  | Netflix                | comm    | 900   | 0.38  | 3   | 3     | 19.80 | 0.16  | 0.27  | 0.22  | 0.70 | 0
XOM   | Exxon Mobil            | energy  | 115   | 0.24  | 2   | 15    | 8.00  | -0.01 | 0.15  | 0.1   | 0.20 | 0.034
CVX   | Chevron                | energy  | 150   | 0.25  | 2   | 8     | 9.50  | -0.02 | 0.12  | 0.09  | 0.20 | 0.043
INTC  | Intel                  | tech    | 22    | 0.45  | 5   | 60    | -4.40 | -0.02 | -0.05 | -0.35 | 0.50 | 0
AMD   | Advanced Micro Devices | tech    | 140   | 0.5   | 3   | 40    | 2.00  | 0.14  | 0.07  | 0.06  | 0.04 | 0
CSCO  | Cisco Systems          | tech    | 58    | 0.2   | 2   | 20    | 2.50  | -0.06 | 0.22  | 0.17  | 0.60 | 0.028
ORCL  | Oracle                 | tech    | 170   | 0.32  | 2   | 9     | 4.30  | 0.07  | 0.3   | 0.2   | 5.00 | 0.0095
T     | AT&T                   | comm    | 22    | 0.18  | 4.5 | 35    | 1.50  | 0.01  | 0.19  | 0.09  | 1.20 | 0.05
VZ    | Verizon Communications | comm    | 42    | 0.18  | 2.5 | 18    | 4.10  | 0.01  | 0.21  | 0.13  | 1.50 | 0.064
SPY   | SPDR S&P 500 ETF Trust | etf     | 580   | 0.16  | 0.5 | 60    | 23.00 | 0.05  | 0.16  | 0.12  | 1.00 | 0.012
QQQ   | Invesco QQQ Trust      | etf     | 500   | 0.2   | 0.5 | 40    | 15.00 | 0.1   | 0.25  | 0.2   | 0.50 | 0.006
"""


def _ticker(line: str) -> Ticker:
    symbol, name, sector, price, sigma, bps, adv_m, eps, rev_g, op_m, net_m, de, dy = (
        c.strip() for c in line.split("|")
    )
    numbers = (float(x) for x in (eps, rev_g, op_m, net_m, de, dy))
    return Ticker(
        symbol, name, SECTORS[sector], float(price), float(sigma), float(bps), int(float(adv_m) * 1e6), *numbers
    )


TICKERS: dict[str, Ticker] = {t.symbol: t for t in map(_ticker, _TABLE.strip().splitlines()[1:])}
