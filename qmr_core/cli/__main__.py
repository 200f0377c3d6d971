from qmr_core.cli import main

main()
