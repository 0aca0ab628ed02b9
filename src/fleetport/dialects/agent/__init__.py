"""The agent wire (``/agent/v1``): the connections of the agents on robots, and the hub behind them."""
