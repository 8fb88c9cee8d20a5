from valet.cli import main

main()
