"""The SQLAlchemy side of agentrecord: its implementations of the runtime's ports (`agentrecord.ports`).

The runtime (the turn and what it imports) loads none of this: a record's store, spend reservations and
binding are handed to it. Re-exported where they always were (`agentrecord.budgets.spend_table`, ...).
"""
