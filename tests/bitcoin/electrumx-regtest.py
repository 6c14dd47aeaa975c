"""ElectrumX (PyPI e-x 1.18.0) for the Bitcoin tests (tests/bitcoin_support/mod.rs starts it
with the virtualenv's python that scripts/install-test-deps makes). Configured, as ElectrumX
always is, by environment variables; this only changes what the environment cannot.

ElectrumX holds back a reply smaller than 1 KiB for up to a second, hoping to pad it into a
packet with the next one (a defence against traffic analysis). A test client sends one request
and waits for its reply, so each reply would cost a second: send at once.
"""

import sys

from electrumx.cli.electrumx_server import main
from electrumx.server.transport import PaddedRSTransport

PaddedRSTransport.WAIT_FOR_BUFFER_GROWTH_SECONDS = 0.0

if __name__ == "__main__":
    sys.exit(main())
