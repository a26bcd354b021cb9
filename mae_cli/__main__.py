from mae_cli.app import main

main()
