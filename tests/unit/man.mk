# Man page coverage: every exported symbol and every installed tool has a page,
# and every page in man/ is installed.  Reads the source tree only.
TESTS += tests/unit/test-man-coverage.sh
EXTRA_DIST += tests/unit/test-man-coverage.sh
