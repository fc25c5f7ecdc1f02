from knowloc.cli import main

main()
