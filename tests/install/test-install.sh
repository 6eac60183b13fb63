#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The install test: libsva as a user gets it.  Install into a DESTDIR (or take
# a tree unpacked from the .deb or .rpm packages), then check the installed
# files, build tests/install/install-test.c against the installed libsva.pc
# alone (PKG_CONFIG_LIBDIR + PKG_CONFIG_SYSROOT_DIR: no build tree, no system
# copy), and check that
#   - libsva.so.1 is the SONAME, and the program links against it;
#   - the library exports only sva_* symbols, every one versioned LIBSVA_1.0
#     (or a later node of libsva.map), and exactly the names libsva.map lists;
#   - the program's sva_* references are bound to LIBSVA_1.0;
#   - it runs against the installed library (no IOMMU needed: a standalone
#     PASID space);
#   - a C++ program and a statically linked one (libsva.a with
#     `pkg-config --static`) build and run too, where the tree has libsva.a.
# Prints TAP on stdout.
#
#   tests/install/test-install.sh --build BUILDDIR   make -C BUILDDIR install DESTDIR=<tmp>
#   tests/install/test-install.sh --root ROOT        an installed tree (e.g. dpkg-deb -x of the .debs)
#
# The source tree is found from this script's path (or $top_srcdir).  Needs a
# C compiler, pkg-config and binutils (readelf); a C++ compiler is optional.
# Exit status: 0 all passed, 1 a failure, 2 a usage error.

me=test-install.sh
usage() {
	echo "usage: $me --build BUILDDIR | --root ROOT" >&2
	exit 2
}

mode=
arg=
case ${1:-} in
--build | --root)
	[ $# -eq 2 ] || usage
	mode=$1 arg=$2
	;;
*) usage ;;
esac

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
CC=${CC:-cc}
CXX=${CXX:-c++}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}

. "${top_srcdir:-$(dirname "$0")/../..}/tests/tap.sh"
bail() {
	echo "Bail out! $*"
	exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sva-install-test.XXXXXX") || bail "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

for tool in "$CC" "$PKG_CONFIG" readelf; do
	command -v "$tool" >/dev/null 2>&1 || bail "$tool not found (Debian: apt-get install build-essential pkg-config)"
done
[ -r "$top_srcdir/tests/install/install-test.c" ] || bail "cannot find the source tree (top_srcdir=$top_srcdir)"

# ------------------------------------------------------------ the tree
if [ "$mode" = --build ]; then
	[ -f "$arg/Makefile" ] || bail "$arg is not a configured build directory"
	root=$tmp/root
	if make -C "$arg" install DESTDIR="$root" >"$tmp/install.log" 2>&1; then
		ok 0 "make install DESTDIR=<tmp>"
	else
		ok 1 "make install DESTDIR=<tmp>"
		tail -20 "$tmp/install.log" | diag_file
		bail "nothing installed"
	fi
else
	[ -d "$arg" ] || bail "$arg is not a directory"
	root=$(cd "$arg" && pwd)
fi

pcfile=$(find "$root" -path '*/pkgconfig/libsva.pc' | head -1)
[ -n "$pcfile" ] || bail "no libsva.pc under $root"
export PKG_CONFIG_LIBDIR="${pcfile%/*}"
export PKG_CONFIG_SYSROOT_DIR="$root"
unset PKG_CONFIG_PATH
# pkgconf prefixes --variable values with the sysroot, pkg-config does not.
in_root() {
	case $1 in "$root"/*) echo "$1" ;; *) echo "$root$1" ;; esac
}
libdir=$(in_root "$($PKG_CONFIG --variable=libdir libsva)")
includedir=$(in_root "$($PKG_CONFIG --variable=includedir libsva)")
prefix=$(in_root "$($PKG_CONFIG --variable=prefix libsva)")
echo "# root: $root"
echo "# libdir: ${libdir#"$root"}, includedir: ${includedir#"$root"}"

# ------------------------------------------------------------ installed files
# A man page may be installed compressed (the packages gzip them).
has_page() { [ -f "$1" ] || [ -f "$1.gz" ]; }
missing=
for f in "$includedir/sva/sva.h" "$libdir/libsva.so.1" "$libdir/libsva.so"; do
	[ -e "$f" ] || missing="$missing ${f#"$root"}"
done
ok "$([ -z "$missing" ] && echo 0 || echo 1)" "the header is <sva/sva.h>, the library libsva.so.1 with its libsva.so link"
[ -z "$missing" ] || echo "# missing:$missing"
[ -e "$includedir/sva.h" ] && echo "# note: ${includedir#"$root"}/sva.h is installed too (it should be sva/sva.h only)"

if [ "$mode" = --build ] || [ -e "$prefix/bin/sva-info" ]; then
	missing=
	for f in "$prefix/bin/sva-info" "$prefix/bin/sva-demo" "$prefix/sbin/sva-brokerd"; do
		[ -x "$f" ] || missing="$missing ${f#"$root"}"
	done
	for p in man1/sva-info.1 man1/sva-demo.1 man8/sva-brokerd.8 man3/sva_ctx_new.3 man3/sva_bind.3 man7/libsva.7; do
		has_page "$prefix/share/man/$p" || missing="$missing share/man/$p"
	done
	ok "$([ -z "$missing" ] && echo 0 || echo 1)" "the tools and the man pages (sections 1, 3, 7 and 8) are installed"
	[ -z "$missing" ] || echo "# missing:$missing"
else
	skip "no tools in this tree (not the tools package)"
fi

version=$($PKG_CONFIG --modversion libsva 2>"$tmp/pc.err")
ok "$([ -n "$version" ] && echo 0 || echo 1)" "pkg-config finds the installed libsva.pc (version ${version:-none})"
[ -n "$version" ] || diag_file "$tmp/pc.err"

# ------------------------------------------------------------ the library
lib=$(readlink -f "$libdir/libsva.so.1" 2>/dev/null)
soname=$(readelf -dW "$lib" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
ok "$([ "$soname" = libsva.so.1 ] && echo 0 || echo 1)" "the SONAME is libsva.so.1 (${soname:-none})"

# Defined dynamic symbols as NAME@VERSION, one a line (the version nodes' own
# ABS symbols, such as LIBSVA_1.0, dropped).
readelf --dyn-syms -W "$lib" 2>/dev/null |
	awk '$1 ~ /^[0-9]+:$/ && $7 != "UND" && ($5 == "GLOBAL" || $5 == "WEAK") { print $8 }' |
	sed 's/@@*/@/' | grep -Ev '^LIBSVA_[0-9.]+(@|$)' | sort >"$tmp/exported"
bad=$(grep -v '^sva_' "$tmp/exported")
ok "$([ -s "$tmp/exported" ] && [ -z "$bad" ] && echo 0 || echo 1)" "only sva_* symbols are exported ($(wc -l <"$tmp/exported") of them)"
[ -z "$bad" ] || echo "$bad" | head -20 | sed 's/^/# not sva_*: /'
unversioned=$(grep -v '@LIBSVA_' "$tmp/exported")
ok "$([ -s "$tmp/exported" ] && [ -z "$unversioned" ] && echo 0 || echo 1)" "every exported symbol is versioned (LIBSVA_1.0)"
[ -z "$unversioned" ] || echo "$unversioned" | head -10 | sed 's/^/# unversioned: /'
# sva.h: "never prints to stdout, never calls abort() or exit()": so the
# library imports none of them (it once imported abort() for two "cannot
# happen" checks of its arena).
forbidden=$(readelf --dyn-syms -W "$lib" 2>/dev/null | awk '$7 == "UND" { print $8 }' | sed 's/@.*//' |
	grep -Ex 'abort|exit|_exit|_Exit|quick_exit|printf|puts|putchar|vprintf|stdout|__assert_fail' | sort -u | tr '\n' ' ')
ok "$([ -z "$forbidden" ] && echo 0 || echo 1)" "the library imports no abort(), exit() or stdout output (${forbidden:-none})"

# The names of the global sections of libsva.map (comments dropped).
map=$top_srcdir/libsva/libsva.map
if [ -r "$map" ]; then
	sed 's://.*$::; s:/\*.*\*/::g' "$map" | tr ';{}' '\n\n\n' |
		awk '/^[ \t]*global:/ { g = 1; sub(/^[ \t]*global:/, "") }
		     /^[ \t]*local:/ { g = 0 }
		     g { gsub(/[ \t]/, ""); if ($0 != "" && $0 !~ /[*?]/) print }' | sort -u >"$tmp/map"
	sed 's/@.*//' "$tmp/exported" | sort -u >"$tmp/exported-names"
	if cmp -s "$tmp/map" "$tmp/exported-names"; then
		ok 0 "the exported symbols are exactly those of libsva/libsva.map ($(wc -l <"$tmp/map"))"
	else
		ok 1 "the exported symbols are exactly those of libsva/libsva.map"
		comm -23 "$tmp/map" "$tmp/exported-names" | sed 's/^/# in libsva.map, not exported: /'
		comm -13 "$tmp/map" "$tmp/exported-names" | sed 's/^/# exported, not in libsva.map: /'
	fi
else
	skip "no libsva/libsva.map in $top_srcdir"
fi

# ------------------------------------------------------------ a program
cflags=$($PKG_CONFIG --cflags libsva)
libs=$($PKG_CONFIG --libs libsva)
echo "# cflags: $cflags"
echo "# libs: $libs"
# shellcheck disable=SC2086 # the flags are words
if $CC -std=c11 -Wall -Wextra -Werror $cflags -o "$tmp/prog" "$top_srcdir/tests/install/install-test.c" $libs \
	>"$tmp/cc.log" 2>&1; then
	ok 0 "a C11 program builds with pkg-config's flags alone (-Wall -Wextra -Werror)"
else
	ok 1 "a C11 program builds with pkg-config's flags alone (-Wall -Wextra -Werror)"
	diag_file "$tmp/cc.log"
fi

if [ -x "$tmp/prog" ]; then
	needed=$(readelf -dW "$tmp/prog" | sed -n 's/.*(NEEDED).*\[\(libsva[^]]*\)\].*/\1/p')
	ok "$([ "$needed" = libsva.so.1 ] && echo 0 || echo 1)" "the program needs libsva.so.1 (${needed:-none})"
	readelf --dyn-syms -W "$tmp/prog" | awk '$7 == "UND" && $8 ~ /^sva_/ { print $8 }' >"$tmp/refs"
	unbound=$(grep -v '@LIBSVA_1\.0' "$tmp/refs")
	ok "$([ -s "$tmp/refs" ] && [ -z "$unbound" ] && echo 0 || echo 1)" "its sva_* references are bound to LIBSVA_1.0 ($(tr '\n' ' ' <"$tmp/refs"))"
	if LD_LIBRARY_PATH="$libdir" "$tmp/prog" >"$tmp/run.out" 2>&1; then
		loaded=$(sed -n 's/^libsva: //p' "$tmp/run.out")
		case $loaded in
		"$root"/*) ok 0 "it runs against the installed library (${loaded#"$root"}): a standalone PASID space" ;;
		*) ok 1 "it runs against the installed library, not ${loaded:-an unknown one}" ;;
		esac
	else
		ok 1 "it runs against the installed library"
		diag_file "$tmp/run.out"
	fi
else
	skip "no program to inspect"
	skip "no program to inspect"
	skip "no program to run"
fi

# libsva(7), Versions: "a program that runs against an older libsva.so.1 than
# it was built for fails to start, naming the missing node".  A stand-in for a
# later minor release (libsva.so.1 with a node one minor past libsva.map's
# newest, LIBSVA_1.1 today, so the check outlives a real 1.1) links a program;
# run against the installed library, which has no such node, the loader
# refuses it before main.  An unversioned library would let it start and fail
# at the first call of the missing function instead.
mkdir -p "$tmp/later"
later=$(grep -o 'LIBSVA_1\.[0-9][0-9]*' "$map" | sed 's/LIBSVA_1\.//' | sort -n | tail -1)
later=LIBSVA_1.$((${later:-0} + 1))
cat >"$tmp/later/later.map" <<EOF
LIBSVA_1.0 { global: sva_log_level_name; local: *; };
$later { global: sva_test_later_minor; } LIBSVA_1.0;
EOF
cat >"$tmp/later/later.c" <<'EOF'
const char *sva_log_level_name(int level);
const char *sva_log_level_name(int level) { return level ? "later" : "later0"; }
int sva_test_later_minor(void);
int sva_test_later_minor(void) { return 0; }
EOF
cat >"$tmp/later/prog.c" <<'EOF'
#include <stdio.h>
#include <sva/sva.h>
int sva_test_later_minor(void); /* what the later header would declare */
int main(void)
{
	puts("started");
	printf("%s\n", sva_log_level_name(SVA_LOG_WARN));
	return sva_test_later_minor();
}
EOF
# shellcheck disable=SC2086 # the flags are words
if $CC -shared -fPIC -Wl,-soname,libsva.so.1 -Wl,--version-script="$tmp/later/later.map" \
	-o "$tmp/later/libsva.so.1" "$tmp/later/later.c" >"$tmp/later/cc.log" 2>&1 &&
	ln -s libsva.so.1 "$tmp/later/libsva.so" &&
	$CC -std=c11 $cflags -o "$tmp/later/prog" "$tmp/later/prog.c" -L"$tmp/later" -lsva >>"$tmp/later/cc.log" 2>&1 &&
	LD_LIBRARY_PATH="$tmp/later" "$tmp/later/prog" >>"$tmp/later/cc.log" 2>&1; then
	LD_LIBRARY_PATH="$libdir" "$tmp/later/prog" >"$tmp/later/out" 2>"$tmp/later/err"
	st=$?
	ok "$([ "$st" -ne 0 ] && ! grep -q started "$tmp/later/out" && grep -q "$(echo "$later" | sed 's/\./\\./').*not found" "$tmp/later/err" &&
		echo 0 || echo 1)" "a program built for a later minor version fails to start against this one, naming $later (exit $st)"
	diag_file "$tmp/later/err"
else
	skip "cannot build the stand-in for a later libsva.so.1"
	diag_file "$tmp/later/cc.log"
fi

# C++: the header's extern "C" and the same link.
if command -v "$CXX" >/dev/null 2>&1; then
	cat >"$tmp/prog.cc" <<'EOF'
#include <sva/sva.h>
#include <cstdio>
int main()
{
	struct sva_pasid_space_opts opts = {};
	struct sva_pasid_space *space = nullptr;
	opts.size = sizeof(opts);
	int ret = sva_pasid_space_new(&opts, &space);
	sva_pasid_space_free(space);
	std::printf("%s\n", sva_log_level_name(SVA_LOG_WARN));
	return ret ? 1 : 0;
}
EOF
	# shellcheck disable=SC2086
	if $CXX -Wall -Wextra -Werror $cflags -o "$tmp/prog-cxx" "$tmp/prog.cc" $libs >"$tmp/cxx.log" 2>&1 &&
		LD_LIBRARY_PATH="$libdir" "$tmp/prog-cxx" >>"$tmp/cxx.log" 2>&1; then
		ok 0 "a C++ program builds and runs (the header is extern \"C\")"
	else
		ok 1 "a C++ program builds and runs (the header is extern \"C\")"
		diag_file "$tmp/cxx.log"
	fi
else
	skip "no C++ compiler ($CXX)"
fi

# Static: libsva.a and the Libs.private of `pkg-config --static`.
if [ -f "$libdir/libsva.a" ]; then
	static_libs=$($PKG_CONFIG --static --libs libsva | sed "s|-lsva\\b|$libdir/libsva.a|")
	# shellcheck disable=SC2086
	if $CC -std=c11 $cflags -o "$tmp/prog-static" "$top_srcdir/tests/install/install-test.c" $static_libs \
		>"$tmp/static.log" 2>&1 &&
		! readelf -dW "$tmp/prog-static" | grep -q 'NEEDED.*libsva' &&
		"$tmp/prog-static" >>"$tmp/static.log" 2>&1 && grep -q '^libsva: static$' "$tmp/static.log"; then
		ok 0 "a program links libsva.a with pkg-config --static and runs"
	else
		ok 1 "a program links libsva.a with pkg-config --static and runs"
		diag_file "$tmp/static.log"
	fi
else
	skip "no libsva.a in this tree"
fi

done_testing
