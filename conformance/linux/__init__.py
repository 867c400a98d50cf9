"""Linux suites: sendfile(2), splice(2), MSG_ZEROCOPY, and the gated sendfile2 RFC suite."""
