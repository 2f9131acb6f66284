import sys

from minidump.cli import main

sys.exit(main())
