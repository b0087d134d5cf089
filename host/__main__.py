import sys

from k6host.cli import main

sys.exit(main())
