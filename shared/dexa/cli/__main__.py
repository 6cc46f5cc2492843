from dexa.cli.main import main

main()
