#!/bin/bash
# libsva's whole test suite: the README's test command, and what CI runs.
#
#   tools/test-all.sh            everything (installs missing Debian packages first)
#
# Tiers, each in its own out-of-tree build under build/:
#   gcc      -Werror, unit tests + the ABI check against Debian's 7.x uAPI
#            headers, then the kernel tier in the QEMU VM (make check-vm), then
#            make distcheck
#   clang    -Werror, unit tests
#   asan     AddressSanitizer + UndefinedBehaviorSanitizer, unit tests
#   tsan     ThreadSanitizer, unit tests (the concurrency stress test)
#   fuzz     libFuzzer on the PASID allocator for SVA_FUZZ_SECONDS (default 60)
# A missing QEMU, a kernel that fails to build or a VM that does not report
# back fails the run; nothing is skipped silently.  The last line is the total
# over every test log: "N passed, N failed, N skipped".
#
# Environment: SVA_FUZZ_SECONDS, SVA_VM_* (see tests/vm/local.mk), SVA_TIERS
# (default "gcc clang asan tsan fuzz distcheck"), XDG_CACHE_HOME (kernel cache).
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/libsva
jobs=$(($(nproc) + 1))
tiers=${SVA_TIERS:-gcc clang asan tsan fuzz distcheck}
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

"$src/tools/install-deps.sh" build vm test || { fail deps; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
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
	asan) build_check asan CC=gcc --enable-werror --enable-sanitizers=address,undefined || fail asan ;;
	tsan) build_check tsan CC=clang --enable-werror --enable-sanitizers=thread || fail tsan ;;
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
	*) fail "unknown-tier-$tier" ;;
	esac
done

# Every per-test TAP log: automake's (not the test-suite.log summaries) and the VM's.
logs=$(find "$src/build" -path "$src/build/*/libsva-*" -prune -o -name '*.log' -print |
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
