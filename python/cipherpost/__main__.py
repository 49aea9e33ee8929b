import sys

from cipherpost.cli import main

sys.exit(main())
