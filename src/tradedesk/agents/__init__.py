"""The agents layer: the users' agent models, the tools they trade with, audit stamps, the kill switch, skills/.

Above users and the brokerage, below the application.
"""

from tradedesk.agents.models import AGENT_KINDS, LOCAL_MODEL, SPEND, Daytrader, StockInvestor, TradingAgent

__all__ = ["AGENT_KINDS", "LOCAL_MODEL", "SPEND", "Daytrader", "StockInvestor", "TradingAgent"]
