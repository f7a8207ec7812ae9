"""Backtests: how one of a user's agents would have traded over history, before it trades with money.

Between the application and the agents (import-linter's layers): a run (`runs`) owns a book of its own (a hidden
user with a backtest account) and a twin of the agent (`twin`); the loop (`engine`) steps a simulated clock
(`steps`) through the window, asks the twin (or a baseline rule, `baselines`) at each step and records each
decision; `report` turns the equity curve into statistics against benchmarks.
"""
