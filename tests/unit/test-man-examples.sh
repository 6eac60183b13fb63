#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every EXAMPLES code block of the man pages, and the README's tour, compiles
# as a reader copies it: the configured compiler (SVA_TEST_CC; cc by hand)
# with -std=c11 and -std=c99, and clang -std=c11 if installed, all with
# -Wall -Wextra -Werror (a warning in an example is the failure this test
# looks for, as in test-header-std.sh).  If man(1) is installed, each block as
# man renders it is also the text this script extracts (roff escapes right);
# a man(1) that cannot render a known block skips those checks, saying why.
# Hermetic: a C compiler and the source tree; nothing is built or run.
#
#   - a block with main() is compiled verbatim;
#   - otherwise only what a reader supplies is added: declarations of the
#     reader's own names (my_*, ctx, dev, ...; the table in reader_decls, keyed
#     PAGE.N: a new example with a name it does not declare fails until the
#     table has it), and, for statement fragments, a function around them.
#     Preprocessor lines go first; function definitions (up to the last line
#     that is exactly "}") stay at file scope, the rest goes into
#     int example(void) { ... return 0; }.  A block without #include gets the
#     usual standard headers; one with its own gets only those (and sva.h), so
#     a missing #include shows.  Elisions are comments ("/* ... */"): a
#     line of bare "..." is a compile error, as it is to a reader.
#
# Run by automake (top_srcdir is set), or by hand:
#   top_srcdir=/path/to/libsva sh tests/unit/test-man-examples.sh
set -u

top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
. "$top_srcdir/tests/tap.sh"
src=$top_srcdir
out=$(mktemp -d "${TMPDIR:-/tmp}/sva-man-examples.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
trap 'rm -rf "$out"' EXIT
trap 'exit 1' HUP INT TERM
CC=${SVA_TEST_CC:-${CC:-cc}}
CLANG=clang
WFLAGS0="-Wall -Wextra -Werror -Wno-unused-function -Wno-unused-parameter"
# $CC unquoted below: it may be "ccache gcc".
command -v ${CC%% *} >/dev/null 2>&1 || { echo "1..0 # SKIP $CC is not installed"; exit 0; }


have() { command -v "$1" >/dev/null 2>&1; }

# unroff: the text of one .EX block as a reader gets it
unroff() {
	sed -e 's/\\-/-/g' -e 's/\\(aq/'"'"'/g' -e 's/\\(dq/"/g' \
	    -e 's/\\(ti/~/g' -e 's/\\(ha/^/g' -e 's/\\&//g' -e 's/\\e/\\/g'
}

# render: the same block through man(1), indentation removed
render() {
	{ printf '.TH X 3\n.SH E\n.EX\n'; cat "$1"; printf '.EE\n'; } > "$out/.render.3"
	LC_ALL=C.UTF-8 MANWIDTH=250 man -l "$out/.render.3" 2>/dev/null | col -bx |
	awk 'NR == 1 { next } /^E$/ { p = 1; next }
	     p { l[++n] = $0 }
	     END { while (n > 0 && l[n] ~ /^ *$/) n--; n--      # footer
	           while (n > 0 && l[n] ~ /^ *$/) n--
	           for (i = 1; i <= n; i++) { s = l[i]; sub(/^       /, "", s); print s } }'
}

# the reader-supplied declarations each block needs (names the page uses
# but leaves to the driver).  Keyed PAGE.N.
reader_decls() {
	case "$1" in
	libsva.7.1) cat <<'EOF'
struct my_queue;
void my_drain(struct sva_bond *bond, void *drvdata);
void my_report(struct sva_bond *bond, const struct sva_fault_report *r, void *drvdata);
void my_program_pasid(struct my_queue *q, uint32_t pasid);
EOF
	;;
	sva_bind.3.1|sva_bind.3.3|sva_unbind.3.1) cat <<'EOF'
struct my_queue;
void my_queue_stop(struct my_queue *q);
void my_queue_wait_idle(struct my_queue *q);
void my_queue_mark_failed(struct my_queue *q, uint64_t addr, uint32_t access, uint32_t reason);
void my_queue_set_pasid(struct my_queue *q, uint32_t pasid);
void my_wait_lookups(struct my_queue *q);
void my_queue_free(struct my_queue *q);
extern struct my_queue *q;
extern struct sva_dev *dev;
extern struct sva_mm *mm;
extern void *buf;
extern size_t len;
EOF
		[ "$1" = sva_bind.3.3 ] && echo 'extern struct sva_bond_ops ops;'
		[ "$1" = sva_unbind.3.1 ] && echo 'extern struct sva_bond *bond;'
	;;
	sva_bind.3.2) cat <<'EOF'
extern struct sva_dev *dev; extern struct sva_mm *mm;
extern struct sva_bond *bond; extern int ret;
EOF
	;;
	sva_ctx_process_faults.3.1) cat <<'EOF'
extern int my_event_fd; extern volatile int my_stopping;
void my_handle_events(void);
EOF
	;;
	sva_ctx_process_faults.3.2) cat <<'EOF'
struct my_queue; extern struct my_queue *q; extern struct sva_ctx *ctx;
void my_poll_completions(struct my_queue *q); void my_submit_work(struct my_queue *q);
EOF
	;;
	sva_ctx_process_faults.3.3) cat <<'EOF'
struct my_queue { struct sva_ctx *ctx; };
void my_queue_stop(struct my_queue *q); int my_queue_idle(struct my_queue *q);
EOF
	;;
	sva_ctx_fault_fd.3.1) echo 'extern int my_epfd;' ;;
	sva_ctx_set_log.3.1|sva_log_level_name.3.1) echo 'extern struct sva_ctx *ctx;' ;;
	sva_ctx_free.3.1) echo 'extern struct sva_ctx *ctx; extern struct sva_dev *dev; extern struct sva_mm *mm;' ;;
	sva_ctx_share_memfd.3.1) echo 'extern struct sva_ctx *ctx; extern struct sva_mm *mm; extern size_t len;' ;;
	sva_ctx_unshare_memfd.3.1) echo 'extern struct sva_ctx *ctx; extern int fd; extern void *buf; extern size_t len;' ;;
	sva_dev_bond_lookup.3.1) cat <<'EOF'
struct my_record { uint32_t pasid; };
struct my_queue { atomic_bool stopping; };
void my_queue_complete(struct my_queue *q, const struct my_record *rec);
EOF
	;;
	sva_dev_open.3.1) echo 'extern struct sva_ctx *ctx;' ;;
	sva_dev_iova_ranges.3.1|sva_dev_set_pasid_range.3.1) echo 'extern struct sva_dev *dev; extern int ret;' ;;
	sva_mm_iova_ranges.3.1|sva_mm_invalidate.3.1) cat <<'EOF'
extern struct sva_mm *mm; extern void *buf; extern size_t len;
struct my_queue; extern struct my_queue *q; void stop_device_queue(struct my_queue *q);
EOF
	;;
	sva_dev_pasid_alloc.3.1) echo 'extern struct sva_dev *dev; extern void *client; void drain(struct sva_dev *dev, uint32_t pasid);' ;;
	sva_mem_alloc.3.1) echo 'extern struct sva_dev *dev; extern struct sva_mm *mm;' ;;
	sva_mm_allow.3.1) echo 'extern struct sva_ctx *ctx; extern void *queue; extern size_t queue_len;' ;;
	sva_mm_new.3.1) echo 'extern struct sva_ctx *ctx;' ;;
	sva_mm_new.3.2|sva_mm_new.3.3) echo 'extern struct sva_ctx *ctx; extern struct sva_mm *mm; extern int ret;' ;;
	sva_mm_prefault.3.1) echo 'extern struct sva_mm *mm; extern int ret;' ;;
	sva_pasid_alloc.3.1) echo 'extern struct sva_pasid_space *space; extern void *my_client; void my_device_drain(uint32_t pasid);' ;;
	sva_pasid_lookup.3.1) echo 'extern struct sva_pasid_space *space; struct client; void client_complete(struct client *c);' ;;
	sva_pasid_space_new.3.1) echo 'extern void *client;' ;;
	sva_bond_stats.3.1) echo 'extern struct sva_bond *bond;' ;;
	README.1) echo 'extern struct sva_mm *mm; extern struct sva_dev *dev; extern size_t len; extern void *buf;' ;;
	README.2) cat <<'EOF'
struct my_queue; extern struct my_queue *my_queue; extern size_t len;
void my_drain(struct sva_bond *bond, void *drvdata);
EOF
	;;
	sva-brokerd.8.3|sva-brokerd.8.4) cat <<'EOF'
extern struct sva_ctx *ctx; extern struct sva_dev *dev; extern struct sva_mm *mm;
extern struct sva_bond *bond; extern uint32_t pasid; extern void *buf; extern size_t len;
EOF
	;;
	esac
}

# defines the page says the reader must add (#define before the first #include)
reader_defines() {
	case "$1" in
	sva_ctx_share_memfd.3.*|sva_mm_prefault.3.*) echo '#define _GNU_SOURCE' ;;
	esac
}

is_c_block() {  # PAGE.N BLOCKFILE
	case "$1" in
	*.3.*|*.7.*) return 0 ;;
	sva-brokerd.8.3|sva-brokerd.8.4) return 0 ;;
	esac
	return 1
}

STDHDRS='#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/mman.h>'

# harness BLOCKFILE KEY > C file
harness() {
	b=$1; key=$2
	if grep -q 'int main *(' "$b"; then
		reader_defines "$key"; cat "$b"; return
	fi
	reader_defines "$key"
	grep '^#' "$b"
	if ! grep -q '^#include' "$b"; then printf '%s\n' "$STDHDRS"; fi
	echo '#include <sva/sva.h>'
	reader_decls "$key"
	grep -v '^#' "$b" > "$out/.body"
	# the end of the last function definition: "{" alone at column 0
	# after a line ending in ")", closed by "}" alone at column 0
	last=$(awk 'prev ~ /\)[ \t]*$/ && /^\{$/ { f = 1 }
		    f && /^\}$/ { last = NR; f = 0 }
		    { prev = $0 } END { print last + 0 }' "$out/.body")
	[ "$last" -gt 0 ] && sed -n "1,${last}p" "$out/.body"
	rest=$(sed -n "$((last + 1)),\$p" "$out/.body" | grep -v '^[[:space:]]*$' |
	       grep -v '^[[:space:]]*/\*.*\*/[[:space:]]*$')
	if [ -n "$rest" ]; then
		echo 'int example(void);'
		echo 'int example(void)'
		echo '{'
		sed -n "$((last + 1)),\$p" "$out/.body"
		echo 'return 0;'
		echo '}'
	fi
}

check() {  # NAME CMD...
	name=$1; shift
	"$@" > "$out/.log" 2>&1
	ok $? "$name"
	[ -s "$out/.log" ] && sed 's/^/# /' "$out/.log"
	return 0
}

inc="$src/include"

# Whether man(1) renders here as render() expects: a known block, with the
# escapes the pages use, must come back as unroff() reads it.
can_render=false
if have man && have col; then
	printf 'int f(void)\n{\n    int x = \\-1; /* \\(aqa\\(aq */\n}\n' > "$out/.probe.roff"
	unroff < "$out/.probe.roff" > "$out/.probe.txt"
	if render "$out/.probe.roff" > "$out/.probe.man" 2>/dev/null && [ -s "$out/.probe.man" ] &&
	   cmp -s "$out/.probe.txt" "$out/.probe.man"; then
		can_render=true
	else
		skip "man(1) is installed but does not render a known block as expected: render checks skipped"
	fi
else
	skip "man(1) or col(1) is not installed: render checks skipped"
fi

# README, "A tour": the one-line allocation and the whole tour (indented
# 4 spaces in the README; the first ends at "&buf);", the second at "return ret;")
if [ -f "$src/README" ]; then
	awk -v out="$out" '
		/^A tour/ { tour = 1 }
		tour && /^    sva_mem_alloc\(len, &\(struct/ { f = out "/README.1.txt"; grab = 1 }
		tour && /^    #include <sva\/sva.h>/ { f = out "/README.2.txt"; grab = 1 }
		grab { s = $0; sub(/^    /, "", s); print s > f }
		grab && (/&buf\);$/ || /^    return ret;$/) { grab = 0; close(f) }
		/^Several processes/ { tour = 0 }' "$src/README"
	for key in README.1 README.2; do
		[ -s "$out/$key.txt" ] || { ok 1 "$key: found in README"; continue; }
		harness "$out/$key.txt" "$key" > "$out/$key.c"
		WFLAGS="$WFLAGS0 -Wno-unused-but-set-variable -Wno-unused-variable"
		check "$key cc-c11" $CC -std=c11 $WFLAGS -I"$inc" -c -o /dev/null "$out/$key.c"
		check "$key cc-c99" $CC -std=c99 $WFLAGS -I"$inc" -c -o /dev/null "$out/$key.c"
		if have "$CLANG"; then
			check "$key clang-c11" $CLANG -std=c11 $WFLAGS -I"$inc" -c -o /dev/null "$out/$key.c"
		fi
	done
fi

for page in "$src"/man/*.[1-8]; do
	grep -q '^\.SH "*EXAMPLES' "$page" || continue
	base=${page##*/}
	awk -v out="$out" -v base="$base" '
		/^\.SH/ { ex = ($0 ~ /^\.SH "?EXAMPLES/); next }
		ex && /^\.EX/ { n++; f = out "/" base "." n ".roff"; printf "" > f; inb = 1; next }
		ex && /^\.EE/ { inb = 0; close(f); next }
		ex && inb { print > f }' "$page"
	n=1
	while [ -f "$out/$base.$n.roff" ]; do
		key=$base.$n
		unroff < "$out/$key.roff" > "$out/$key.txt"
		if $can_render; then
			render "$out/$key.roff" > "$out/$key.man"
			check "$key render" cmp "$out/$key.txt" "$out/$key.man"
		fi
		if is_c_block "$key" "$out/$key.txt"; then
			harness "$out/$key.txt" "$key" > "$out/$key.c"
			WFLAGS=$WFLAGS0
			# an elided fragment ("/* ... */" alone on a line) may set what the elision uses
			grep -q '^/\* \.\.\..*\*/$' "$out/$key.txt" &&
				WFLAGS="$WFLAGS -Wno-unused-but-set-variable -Wno-unused-variable"
			check "$key cc-c11" $CC -std=c11 $WFLAGS -I"$inc" -c -o /dev/null "$out/$key.c"
			check "$key cc-c99" $CC -std=c99 $WFLAGS -I"$inc" -c -o /dev/null "$out/$key.c"
			if have "$CLANG"; then
				check "$key clang-c11" $CLANG -std=c11 $WFLAGS -I"$inc" -c -o /dev/null "$out/$key.c"
			fi
		fi
		n=$((n + 1))
	done
done
done_testing
