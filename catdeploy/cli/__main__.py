"""``python -m catdeploy.cli``: the same as the ``catdeploy`` console script."""
from catdeploy.cli import main

main()
