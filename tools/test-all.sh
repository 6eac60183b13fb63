#!/bin/bash
# libsva's whole test suite: the README's test command, and what CI runs.
#
#   tools/test-all.sh            everything (installs missing Debian packages first)
#   tools/test-all.sh --help     say so (any other argument is a usage error)
#
# Tiers, each in its own out-of-tree build under build/:
#   gcc      -Werror, unit tests + the ABI check against Debian's 7.x uAPI
#            headers, then the kernel tier in the QEMU VM (make check-vm), then
#            make distcheck
#   clang    -Werror, unit tests
#   asan     AddressSanitizer + UndefinedBehaviorSanitizer: unit tests, and the
#            kernel tests on every VM topology (mock, VT-d with edu DMA, NUMA)
#   tsan     ThreadSanitizer: unit tests and the kernel tests on the mock topology
#            (the concurrency stress tests, the fault thread)
#   lto      build only, no test run: library, tools and the test programs
#            SVA_LTO_PROGRAMS names (default: eight that LTO once broke; "all":
#            every one, make check TESTS=, some 10 minutes more) with
#            distributions' flags (-flto=auto -ffat-lto-objects
#            -D_FORTIFY_SOURCE=3, as Fedora and Ubuntu) and --enable-werror:
#            gcc warns across units under LTO where the gcc tier's build does not;
#            and the library built under gcc's ThreadSanitizer with --enable-werror
#            (gcc's -Wtsan refuses what the clang tsan tier accepts)
#   fuzz     libFuzzer on the PASID allocator for SVA_FUZZ_SECONDS (default 60)
#            (the fault-record fuzzer needs a kernel: ktest-fault-fuzz, a bounded
#            run from tests/fuzz/corpus/fault in every kernel tier above)
#   packages from the `make dist` tarball, in build/pkg (nothing outside build/):
#            the install test (make install DESTDIR + a program built against
#            the installed libsva.pc), dpkg-buildpackage -b + lintian (failing
#            on E:) + the symbols file, rpmbuild -bb, and the install test on
#            the unpacked .debs and .rpms; both package builds (and the make
#            check in them) run as nobody, as Debian's buildds and mock do
# A missing QEMU, a kernel that fails to build or a VM that does not report
# back fails the run; nothing is skipped silently.  The last line is the total
# over every test log: "N passed, N failed, N skipped".
#
# Environment: SVA_FUZZ_SECONDS, SVA_LTO_PROGRAMS, SVA_VM_* (see tests/vm/local.mk), SVA_TIERS
# (default "gcc clang asan tsan lto fuzz distcheck packages"), XDG_CACHE_HOME
# (kernel cache).
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
case $# in
0) ;;
*)
	if [ $# -eq 1 ] && { [ "$1" = --help ] || [ "$1" = -h ]; }; then
		cat <<EOF
usage: tools/test-all.sh
  Runs libsva's whole test suite, each tier in its own build under build/
  (installs the Debian packages it needs).  It takes no arguments; the
  environment chooses: SVA_TIERS (default "gcc clang asan tsan lto fuzz
  distcheck packages"), SVA_FUZZ_SECONDS, SVA_LTO_PROGRAMS, SVA_VM_*,
  XDG_CACHE_HOME.
  The last line is the total: "N passed, N failed, N skipped".
EOF
		exit 0
	fi
	# "--help extra": the unexpected one is the second.
	bad=$1
	if [ $# -gt 1 ] && { [ "$1" = --help ] || [ "$1" = -h ]; }; then bad=$2; fi
	echo "tools/test-all.sh: unexpected argument '$bad'; usage: tools/test-all.sh (tiers: SVA_TIERS=...; see --help)" >&2
	exit 2
	;;
esac
# The tiers configure out of tree: a source tree configured in place would
# make each of them stop with "source directory already configured".
if [ -f "$src/config.status" ]; then
	echo "tools/test-all.sh: $src is configured in place (config.status): run 'make distclean' there first;" \
		"the suite builds out of tree, under build/" >&2
	exit 2
fi
cache=${XDG_CACHE_HOME:-$HOME/.cache}/libsva
jobs=$(($(nproc) + 1))
tiers=${SVA_TIERS:-gcc clang asan tsan lto fuzz distcheck packages}
results=$src/build/results
failed_steps=()
t0=$(date +%s)

say() { printf '\n=== %s\n' "$*"; }
fail() { echo "test-all: FAILED: $*" >&2; failed_steps+=("$1"); }

# Debian's newest 7.x uAPI headers, unpacked privately (the system's stay as they are).
uapi_headers() {
	local deb dir
	deb=$("$src/tests/vm/private-apt.sh" "$cache/apt" "$cache/debs" 'linux-libc-dev') || return 1
	dir=$cache/uapi/$(basename "$deb" .deb)
	if [ ! -f "$dir/usr/include/linux/iommufd.h" ]; then
		rm -rf "$dir" && mkdir -p "$dir" && dpkg-deb -x "$deb" "$dir" || return 1
	fi
	echo "$dir/usr/include"
}

# configure + make + make check in build/NAME; extra configure args follow.
build_check() {
	local name=$1; shift
	local dir=$src/build/$name
	say "$name: configure $*"
	rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || return 1
	"$src/configure" -q "$@" >configure.log 2>&1 || { tail -20 configure.log; return 1; }
	say "$name: make"
	make -j"$jobs" >make.log 2>&1 || { grep -E 'error|warning' make.log | head -40; tail -20 make.log; return 1; }
	say "$name: make check"
	make -j"$jobs" check >check.log 2>&1
	local rc=$?
	grep -E '^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):' check.log
	[ $rc -eq 0 ] || { grep -E '^(FAIL|ERROR)' check.log | head -40; cat tests/*/test-suite.log test-suite.log 2>/dev/null | tail -60; }
	return $rc
}

# The packages tier: one TAP line per step in build/results/packages.log; the
# install test's own lines go to build/results/install.log.  Everything is
# built from the `make dist` tarball under build/pkg, so neither the source
# tree nor its parent directory gets anything.
pkg_n=0
pkg_ok() {
	pkg_n=$((pkg_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $pkg_n - $2"
	else
		echo "not ok $pkg_n - $2"
	fi | tee -a "$results/packages.log"
	return "$1"
}

# Distributions build packages as a user, not as root: Debian's buildds
# (dh_auto_test), Fedora's mock (%check).  Run as root, this suite builds the
# .deb (Rules-Requires-Root: no) and the .rpm as nobody, so the make check in
# each runs unprivileged (the gcc, clang and sanitizer tiers run it as root).
# A test that once needed root (test-core-errors opened a 0444 file O_RDWR)
# failed only there.  builder_ok DIR: DIR (under build/pkg) is nobody's and
# nobody can reach it; otherwise the build stays root's and says why.
builder=
builder_why=
builder_ok() {
	[ "$(id -u)" -eq 0 ] || { builder_why="as $(id -un), who runs the suite"; return 0; }
	local uid gid
	uid=$(id -u nobody 2>/dev/null) && gid=$(id -g nobody) || {
		builder_why="no user nobody: built as root"
		return 1
	}
	chown -R "$uid:$gid" "$1" &&
		setpriv --reuid="$uid" --regid="$gid" --clear-groups test -w "$1" -a -x "$1" 2>/dev/null || {
		builder_why="nobody cannot reach $1 (a parent directory is not searchable): built as root"
		return 1
	}
	builder="setpriv --reuid=$uid --regid=$gid --clear-groups env HOME=/nonexistent"
	builder_why="as nobody, uid $uid"
}

# The installed tools that carry libsva's objects instead of NEEDing
# libsva.so.1 (they link libsva-internal), by name; run on an unpacked root.
embedded_libsva() {
	local f
	for f in "$1"/usr/bin/sva-* "$1"/usr/sbin/sva-*; do
		[ -f "$f" ] || continue
		objdump -p "$f" | grep -q 'NEEDED.*libsva\.so\.' && continue
		printf '%s ' "${f##*/}"
	done | sed 's/ $//'
}

packages() {
	local pkg=$src/build/pkg rc=0 version tarball t deb_src f
	pkg_n=0
	rm -rf "$pkg" && mkdir -p "$pkg/build" "$pkg/deb" "$pkg/rpm" || return 1
	: >"$results/packages.log"

	say "packages: configure, make, make dist"
	t=$(date +%s)
	(cd "$pkg/build" && "$src/configure" -q >configure.log 2>&1 && make -j"$jobs" >make.log 2>&1 &&
		make dist >dist.log 2>&1)
	if ! pkg_ok $? "make dist in build/pkg/build ($(($(date +%s) - t)) s)"; then
		tail -20 "$pkg"/build/*.log
		echo "1..$pkg_n" >>"$results/packages.log"
		return 1
	fi
	version=$(sed -n 's/^PACKAGE_VERSION = //p' "$pkg/build/Makefile")
	tarball=$pkg/build/libsva-$version.tar.gz
	# The tarball is the release: the README's commands run from it, so it
	# holds every tracked file but debian/ (the packaging adds it) and
	# .gitignore.  tools/install-deps.sh was once missing: demo.sh exited 127.
	if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
		tar -tzf "$tarball" | sed "s|^libsva-$version/||" | sort >"$pkg/dist.list"
		(cd "$src" && git ls-files) | grep -vE '^(debian/|\.gitignore$)' | sort >"$pkg/tracked.list"
		f=$(comm -23 "$pkg/tracked.list" "$pkg/dist.list" | tr '\n' ' ')
		[ -z "$f" ]
		pkg_ok $? "the tarball holds every tracked file but debian/ and .gitignore${f:+ (missing: $f)}" || rc=1
	fi

	say "packages: install test (make install DESTDIR, a program against libsva.pc)"
	sh "$src/tests/install/test-install.sh" --build "$pkg/build" >"$results/install.log" 2>&1 || rc=1
	grep -E '^(not ok|Bail out)' "$results/install.log"
	sh "$src/tests/vm/tap-summary.sh" --label "install test" "$results/install.log"

	say "packages: dpkg-buildpackage -us -uc -b"
	t=$(date +%s)
	if [ "$(cd "$src" && dpkg-parsechangelog -S Version)" != "$version" ]; then
		pkg_ok 1 "debian/changelog has the tarball's version, $version" || rc=1
	fi
	deb_src=$pkg/deb/libsva-$version
	builder=
	tar -xzf "$tarball" -C "$pkg/deb" && cp -a "$src/debian" "$deb_src/" &&
		if builder_ok "$pkg/deb"; then
			pkg_ok 0 "the .deb is built unprivileged, as a buildd does ($builder_why)"
		else
			pkg_ok 0 "the .deb is built unprivileged, as a buildd does # SKIP $builder_why"
		fi &&
		(cd "$deb_src" && $builder env DEB_BUILD_OPTIONS="parallel=$jobs" dpkg-buildpackage -us -uc -b >"$pkg/deb/build.log" 2>&1)
	if pkg_ok $? "dpkg-buildpackage -us -uc -b, make check included, $builder_why ($(($(date +%s) - t)) s)"; then
		say "packages: lintian"
		t=$(date +%s)
		lintian --fail-on error "$pkg"/deb/libsva_"$version"_*.changes >"$pkg/deb/lintian.log" 2>&1
		pkg_ok $? "lintian: no errors ($(grep -c '^W:' "$pkg/deb/lintian.log") warnings, $(($(date +%s) - t)) s)" || rc=1
		grep -E '^[EWI]:' "$pkg/deb/lintian.log"
		# dpkg-gensymbols only warns about new symbols; here they fail the tier.
		(cd "$deb_src" && dpkg-gensymbols -plibsva1 -Pdebian/libsva1 -c4 -O"$pkg/deb/symbols.generated") \
			>"$pkg/deb/symbols.log" 2>&1
		pkg_ok $? "debian/libsva1.symbols lists exactly the symbols libsva.so.1 exports" || {
			rc=1
			grep -E '^[-+] ' "$pkg/deb/symbols.log"
			echo "update debian/libsva1.symbols: see the comment at its top"
		}
		rm -rf "$pkg/deb/root" && mkdir -p "$pkg/deb/root"
		for f in "$pkg"/deb/*_"$version"_*.deb; do
			case $f in *-dbgsym_*) ;; *) dpkg-deb -x "$f" "$pkg/deb/root" ;; esac
		done
		sh "$src/tests/install/test-install.sh" --root "$pkg/deb/root" >"$pkg/deb/install-test.log" 2>&1
		pkg_ok $? "the .debs, unpacked, pass the install test (build/pkg/deb/install-test.log)" || rc=1
		# A tool that embeds libsva (no NEEDED libsva.so.1: sva-brokerd,
		# sva-bench) gets no dependency from shlibs: debian/control adds it.
		f=$(embedded_libsva "$pkg/deb/root")
		[ -z "$f" ] || dpkg-deb -f "$pkg"/deb/libsva-tools_"$version"_*.deb Depends |
			tr ',' '\n' | grep -qx "[[:blank:]]*libsva1 (= $version)"
		pkg_ok $? "libsva-tools depends on libsva1 (= $version): ${f:+they embed libsva: }${f:-no tool embeds libsva}" || rc=1
	else
		rc=1
		grep -E '^(FAIL|ERROR):|error:' "$pkg/deb/build.log" | head -20
		tail -20 "$pkg/deb/build.log"
	fi

	say "packages: rpmbuild -bb"
	t=$(date +%s)
	if [ "$(sed -n 's/^Version:[[:blank:]]*//p' "$src/rpm/libsva.spec")" != "$version" ]; then
		pkg_ok 1 "rpm/libsva.spec has the tarball's version, $version" || rc=1
	fi
	# --nodeps: the BuildRequires name Fedora packages, which Debian's rpm
	# database does not know; the same libraries are installed as .debs.
	# The spec is copied in: nobody may not be able to read the source tree.
	builder=
	mkdir -p "$pkg/rpm/SOURCES" "$pkg/rpm/SPECS" "$pkg/rpm/tmp" && cp "$tarball" "$pkg/rpm/SOURCES/" &&
		cp "$src/rpm/libsva.spec" "$pkg/rpm/SPECS/" &&
		if builder_ok "$pkg/rpm"; then
			pkg_ok 0 "the .rpm is built unprivileged, as mock does ($builder_why)"
		else
			pkg_ok 0 "the .rpm is built unprivileged, as mock does # SKIP $builder_why"
		fi &&
		$builder rpmbuild -bb --nodeps --define "_topdir $pkg/rpm" --define "_tmppath $pkg/rpm/tmp" \
			"$pkg/rpm/SPECS/libsva.spec" >"$pkg/rpm/rpmbuild.log" 2>&1
	if pkg_ok $? "rpmbuild -bb, make check included, $builder_why ($(($(date +%s) - t)) s)"; then
		rm -rf "$pkg/rpm/root" && mkdir -p "$pkg/rpm/root"
		for f in "$pkg"/rpm/RPMS/*/*.rpm; do
			(cd "$pkg/rpm/root" && rpm2cpio "$f" | cpio -idm --quiet) || rc=1
		done
		sh "$src/tests/install/test-install.sh" --root "$pkg/rpm/root" >"$pkg/rpm/install-test.log" 2>&1
		pkg_ok $? "the .rpms, unpacked, pass the install test (build/pkg/rpm/install-test.log)" || rc=1
		f=$(embedded_libsva "$pkg/rpm/root")
		[ -z "$f" ] || rpm -qp --requires "$pkg"/rpm/RPMS/*/libsva-tools-"$version"-*.rpm 2>/dev/null |
			grep -qE "^libsva(\([^)]*\))? = $version-"
		pkg_ok $? "libsva-tools requires libsva = $version-release: ${f:+they embed libsva: }${f:-no tool embeds libsva}" || rc=1
	else
		rc=1
		grep -E '^(FAIL|ERROR):|error:' "$pkg/rpm/rpmbuild.log" | head -20
		tail -20 "$pkg/rpm/rpmbuild.log"
	fi
	echo "1..$pkg_n" >>"$results/packages.log"
	return $rc
}

# Only what the tiers asked for need: the VM for the kernel tiers, clang and
# python3 for the builds that run make check, the packaging tools for packages.
deps=build
for tier in $tiers; do
	case $tier in
	gcc | asan | tsan) deps="$deps vm test" ;;
	clang | fuzz | distcheck) deps="$deps test" ;;
	lto) ;;
	packages) deps="$deps pkg" ;;
	esac
done
deps=$(echo "$deps" | tr ' ' '\n' | sort -u | tr '\n' ' ')
"$src/tools/install-deps.sh" $deps || { fail deps; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
say "uAPI headers"
uapi=$(uapi_headers) || { fail uapi; uapi=; }
echo "uapi: ${uapi:-none}"
say "autoreconf"
(cd "$src" && autoreconf -fi >/dev/null 2>&1) || { fail autoreconf; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
rm -rf "$results" && mkdir -p "$results"

for tier in $tiers; do
	case $tier in
	gcc)
		build_check gcc CC=gcc --enable-werror ${uapi:+--with-uapi-headers=$uapi} || fail gcc
		say "gcc: kernel tier (make check-vm)"
		(cd "$src/build/gcc" && make -j"$jobs" check-vm) || fail check-vm
		;;
	clang) build_check clang CC=clang --enable-werror || fail clang ;;
	asan | tsan)
		if [ "$tier" = asan ]; then
			build_check asan CC=gcc --enable-werror --enable-sanitizers=address,undefined || fail asan
		else
			build_check tsan CC=clang --enable-werror --enable-sanitizers=thread || fail tsan
		fi
		# The fault engine and its thread only run against a kernel.  AddressSanitizer
		# runs on every topology (the edu DMA paths, NUMA placement and the VT-d
		# windows are code the mock never reaches); ThreadSanitizer on the mock,
		# where the fault thread and the stress tests run.
		if [ "$tier" = asan ]; then
			say "asan: kernel tier, every topology (make check-vm)"
			(cd "$src/build/$tier" && make -j"$jobs" check-vm) || fail "$tier-vm"
		else
			say "tsan: kernel tier, mock topology (make check-vm)"
			(cd "$src/build/$tier" && make -j"$jobs" check-vm SVA_VM_TOPOLOGIES=mock) || fail "$tier-vm"
		fi
		;;
	lto)
		# Distributions build with link-time optimisation: gcc then inlines
		# the library into the programs and warns where the gcc tier's build
		# does not (-Wmaybe-uninitialized through out-parameters,
		# -Wstringop-overflow under _FORTIFY_SOURCE=3).  Build only: the
		# tests run in the other tiers.  Each test program links the whole
		# library with LTO (some 10 s each): by default the ones it once
		# broke, which between them inline most of the library.
		lto_programs=${SVA_LTO_PROGRAMS:-tests/unit/test-reach tests/unit/test-vma-classify \
			tests/unit/test-pasid-exhaust tests/unit/test-broker-client tests/kernel/ktest-edu \
			tests/kernel/ktest-fault tests/kernel/ktest-window tests/kernel/ktest-mem}
		lto_programs=$(echo $lto_programs)
		[ "$lto_programs" = all ] && n=all || n=$(echo $lto_programs | wc -w)
		say "lto: gcc -flto=auto -D_FORTIFY_SOURCE=3 --enable-werror, build only (make; test programs: $lto_programs)"
		dir=$src/build/lto
		t=$(date +%s)
		rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" &&
			"$src/configure" -q CC=gcc --enable-werror \
				CFLAGS="-g -O2 -flto=auto -ffat-lto-objects -fstack-protector-strong -Wformat -Werror=format-security" \
				CPPFLAGS="-D_FORTIFY_SOURCE=3" LDFLAGS="-flto=auto -Wl,-z,relro -Wl,-z,now" >configure.log 2>&1 &&
			make -j"$jobs" >make.log 2>&1 &&
			if [ "$lto_programs" = all ]; then
				make -j"$jobs" check TESTS= >check-build.log 2>&1
			else
				make -j"$jobs" $lto_programs >check-build.log 2>&1
			fi
		rc=$?
		t=$(($(date +%s) - t))
		if [ $rc -eq 0 ]; then
			echo "ok 1 - gcc LTO build with distribution flags and --enable-werror: library, tools, $n test programs (${t}s)" >"$results/lto.log"
		else
			grep -hE 'error|warning' "$dir"/configure.log "$dir"/make.log "$dir"/check-build.log 2>/dev/null | head -40
			echo "not ok 1 - gcc LTO build with distribution flags and --enable-werror (see build/lto/*.log)" >"$results/lto.log"
			fail lto
		fi
		# gcc's ThreadSanitizer refuses what clang's accepts (a fence:
		# -Wtsan, an error with --enable-werror), and the tsan tier is
		# clang's: the library is built under gcc's too, build only.
		say "lto: gcc --enable-sanitizers=thread --enable-werror, the library, build only"
		dir=$src/build/gcc-tsan
		t=$(date +%s)
		rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" &&
			"$src/configure" -q CC=gcc --enable-werror --enable-sanitizers=thread >configure.log 2>&1 &&
			make -j"$jobs" libsva/libsva.la >make.log 2>&1
		rc=$?
		t=$(($(date +%s) - t))
		if [ $rc -eq 0 ]; then
			echo "ok 2 - gcc ThreadSanitizer build with --enable-werror: the library (${t}s)" >>"$results/lto.log"
		else
			grep -hE 'error|warning' "$dir"/configure.log "$dir"/make.log 2>/dev/null | head -40
			echo "not ok 2 - gcc ThreadSanitizer build with --enable-werror (see build/gcc-tsan/*.log)" >>"$results/lto.log"
			fail lto
		fi
		;;
	fuzz)
		secs=${SVA_FUZZ_SECONDS:-60}
		say "fuzz: libFuzzer for ${secs}s"
		dir=$src/build/fuzz
		rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" &&
			"$src/configure" -q CC=clang >configure.log 2>&1 &&
			make -j"$jobs" tests/fuzz/fuzz-pasid >make.log 2>&1 &&
			sh "$src/tests/fuzz/run-fuzz.sh" "$secs" tests/fuzz/fuzz-pasid >fuzz.log 2>&1
		rc=$?
		tail -5 "$dir/fuzz.log" 2>/dev/null
		if [ $rc -eq 0 ]; then
			echo "ok 1 - libFuzzer fuzz-pasid ran ${secs}s against the reference model" >"$results/fuzz.log"
		else
			echo "not ok 1 - libFuzzer fuzz-pasid (see build/fuzz/fuzz.log)" >"$results/fuzz.log"
			fail fuzz
		fi
		;;
	distcheck)
		say "distcheck"
		if (cd "$src/build/gcc" && make -j"$jobs" distcheck \
			DISTCHECK_CONFIGURE_FLAGS="--enable-werror ${uapi:+--with-uapi-headers=$uapi}" >distcheck.log 2>&1); then
			echo "ok 1 - make distcheck" >"$results/distcheck.log"
		else
			tail -40 "$src/build/gcc/distcheck.log"
			echo "not ok 1 - make distcheck (see build/gcc/distcheck.log)" >"$results/distcheck.log"
			fail distcheck
		fi
		;;
	packages) packages || fail packages ;;
	*) fail "unknown-tier-$tier" ;;
	esac
done

# Every per-test TAP log of this run: automake's (not the test-suite.log
# summaries) and the VM's, in the builds of the tiers run (another tier's
# build left from an earlier run is not counted) and in build/results.
dirs=("$results")
for tier in $(echo $tiers | tr ' ' '\n' | sort -u); do
	[ -d "$src/build/$tier" ] && dirs+=("$src/build/$tier")
done
logs=$(find "${dirs[@]}" -path "$src/build/*/libsva-*" -prune -o -name '*.log' -print |
	grep -E '/build/[^/]+/tests/|/test-results/vm/|/build/results/' | grep -v 'test-suite.log' | sort)
say "summary ($(($(date +%s) - t0)) s)"
[ ${#failed_steps[@]} -eq 0 ] || echo "failed steps: ${failed_steps[*]}"
summary=$(sh "$src/tests/vm/tap-summary.sh" $logs)
nfail=$(echo "$summary" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
if [ ${#failed_steps[@]} -ne 0 ] && [ "${nfail:-0}" -eq 0 ]; then
	# A step that failed without a failing test line (a build error) still fails the run.
	summary=$(echo "$summary" | awk -v n=${#failed_steps[@]} '{ $3 = $3 + n; print }')
fi
echo "$summary"
[ ${#failed_steps[@]} -eq 0 ]
