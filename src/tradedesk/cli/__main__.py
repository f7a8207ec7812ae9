"""`python -m tradedesk.cli`: the command line, as the console script runs it."""

from tradedesk.cli import main

main()
