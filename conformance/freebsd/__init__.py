"""FreeBSD suites (sendfile(2), SO_SPLICE). Collected everywhere, run on FreeBSD only."""
