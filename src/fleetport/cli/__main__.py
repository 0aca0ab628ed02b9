"""``python -m fleetport.cli``: the ``fleetport`` command."""

from fleetport.cli import main

main()
