from pixelspace.cli import main

main()
