"""tradedesk: every user gets personal AI agents — a day trader, a stock investor — that trade and
invest for them on a paper brokerage, each agent an ordinary database record (agentrecord)."""
