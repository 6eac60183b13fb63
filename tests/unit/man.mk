# Man page coverage: every exported symbol and every installed tool has a page,
# and every page in man/ is installed.  Reads the source tree only.
TESTS += tests/unit/test-man-coverage.sh
EXTRA_DIST += tests/unit/test-man-coverage.sh
# Every tool's --help names the options of its page's SYNOPSIS and OPTIONS,
# short and long, and the page documents every option --help names.
TESTS += tests/unit/test-man-options.sh
EXTRA_DIST += tests/unit/test-man-options.sh
# The errnos of every function agree between include/sva/sva.h and its page.
TESTS += tests/unit/test-man-errors.sh
EXTRA_DIST += tests/unit/test-man-errors.sh
# Every errno a page's running text names as a return is an ERRORS item, of
# that page or of a function the sentence names (marked regions aside).
TESTS += tests/unit/test-man-errno-text.sh
EXTRA_DIST += tests/unit/test-man-errno-text.sh tests/unit/man_errors.sh
# The library's objects come from its arena only (what a device can reach).
TESTS += tests/unit/test-arena-only.sh
EXTRA_DIST += tests/unit/test-arena-only.sh
# The public header under strict C and C++ compilers.
TESTS += tests/unit/test-header-std.sh
EXTRA_DIST += tests/unit/test-header-std.sh
# No call or include cycle between libsva's files (docs/design.md, "Layers").
TESTS += tests/unit/test-no-cycles.sh
EXTRA_DIST += tests/unit/test-no-cycles.sh
# The test VM's packer: a binary may have any name; duplicates are refused.
TESTS += tests/unit/test-mkinitramfs.sh
EXTRA_DIST += tests/unit/test-mkinitramfs.sh
# The test VM's runner: a boot that never reaches /init is tried once more.
TESTS += tests/unit/test-run-vm.sh
EXTRA_DIST += tests/unit/test-run-vm.sh
# libsva.so calls its own functions inside itself (a second copy must not take them over).
TESTS += tests/unit/test-own-calls.sh
EXTRA_DIST += tests/unit/test-own-calls.sh
# Every EXAMPLES block of the man pages, and the README's tour, compiles as copied.
TESTS += tests/unit/test-man-examples.sh
EXTRA_DIST += tests/unit/test-man-examples.sh
# No double quote inside a word of a man page's macro line (it hides the quotes that follow).
TESTS += tests/unit/test-man-quotes.sh
EXTRA_DIST += tests/unit/test-man-quotes.sh
# Every man page renders without a warning (man --warnings, groff -ww), its
# ".so" links resolved as in an installed man hierarchy.
TESTS += tests/unit/test-man-render.sh
EXTRA_DIST += tests/unit/test-man-render.sh
