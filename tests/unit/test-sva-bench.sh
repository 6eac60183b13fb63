#!/bin/sh
# sva-bench: usage errors, --rounds reaching the benchmarks, the skip report
# where the fault benchmark cannot run, and valid JSON.  (The benchmarks themselves are measured, not tested.)
bench=${top_builddir:-.}/tools/sva-bench
. "${top_srcdir:-$(dirname "$0")/../..}/tests/tap.sh"

"$bench" --help >/dev/null 2>&1; ok $? "--help exits 0"
help_version sva-bench "$bench"
option_errors sva-bench --rounds "$bench"
value_errors sva-bench "--rounds:1:1000" "$bench"
# -h and -V report the rest of the command line's usage error instead
# (sva-bench(1), OPTIONS): an unknown benchmark, two benchmarks, --rounds 0.
for asked in -h -V; do
    for rest in bogus "pasid fault" "--rounds 0 pasid"; do
        # shellcheck disable=SC2086 # split on purpose
        out=$("$bench" $asked $rest 2>/dev/null); rc=$?
        [ $rc -eq 2 ] && [ -z "$out" ]
        ok $? "sva-bench $asked $rest: the usage error (status 2), nothing on standard output (got $rc: $out)"
    done
done
out=$("$bench" --help 2>"${TMPDIR:-/tmp}/test-sva-bench.$$.herr"); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q "^usage: sva-bench" && [ ! -s "${TMPDIR:-/tmp}/test-sva-bench.$$.herr" ]
ok $? "--help: the usage on standard output, nothing on standard error (got $rc)"
rm -f "${TMPDIR:-/tmp}/test-sva-bench.$$.herr"
# A usage error (sva-bench(1), EXIT STATUS 2): a line on standard error that
# names it, then the hint; nothing on standard output.
for fw in "--frobnicate:--frobnicate" "-x:x" "--json=1:--json" "--rounds:--rounds"; do
    a=${fw%%:*} name=${fw#*:}
    out=$("$bench" "$a" 2>"${TMPDIR:-/tmp}/test-sva-bench.$$.uerr"); rc=$?
    first=$(head -n 1 "${TMPDIR:-/tmp}/test-sva-bench.$$.uerr")
    second=$(sed -n 2p "${TMPDIR:-/tmp}/test-sva-bench.$$.uerr")
    [ $rc -eq 2 ] && [ -z "$out" ] && case $first in sva-bench:*"$name"*) true ;; *) false ;; esac &&
        [ "$second" = "Try 'sva-bench --help' for more information." ]
    ok $? "sva-bench $a: status 2, a line naming $name, then the hint (got $rc: $first / $second)"
done
rm -f "${TMPDIR:-/tmp}/test-sva-bench.$$.uerr"
err=$("$bench" bogus 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && echo "$err" | grep -q "^sva-bench: unknown benchmark 'bogus'"
ok $? "an unknown benchmark is a usage error (exit 2) that names it (got $rc: $(echo "$err" | head -1))"
err=$("$bench" pasid fault 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && echo "$err" | grep -q "^sva-bench: unexpected argument 'fault'"
ok $? "two benchmark names are a usage error that names the second (got $rc)"
"$bench" --rounds " 1" pasid >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "--rounds ' 1' (a blank first) is a usage error"
"$bench" --frobnicate >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "an unknown option is a usage error"
err=$("$bench" --rounds 0 pasid 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && echo "$err" | grep -q "^sva-bench: option '--rounds': '0' must be between 1 and 1000" &&
    echo "$err" | grep -q "^Try 'sva-bench --help'"
ok $? "--rounds 0 is a usage error: a line naming it, then the hint (got $rc)"
"$bench" --rounds 3x pasid >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "--rounds 3x is a usage error"
# A number is decimal digits only, leading zeros changing nothing (sva-bench(1),
# --rounds), in sva-bench and in each benchmark run alone.  -h and --help come
# after the number: a usage error is reported instead of the help, so nothing
# runs.  (atoi() took "1x" as 1 and "0x1" as 0, and wrapped a number past int.)
for r in +1 " 1" "1 " 0x1 1x 1001 4294967297 99999999999999999999; do
    case $r in *[!0-9]*) why="is not a number" ;; *) why="must be between 1 and 1000" ;; esac
    err=$("$bench" --rounds "$r" --help 2>&1 >/dev/null); rc=$?
    [ $rc -eq 2 ] && [ "$(echo "$err" | head -n 1)" = "sva-bench: option '--rounds': '$r' $why" ]
    ok $? "sva-bench --rounds '$r': a usage error (got $rc: $(echo "$err" | head -1))"
    for b in bench-pasid bench-fault bench-coherence bench-budget; do
        err=$("${top_builddir:-.}/tools/bench/$b" --rounds "$r" --help 2>&1 >/dev/null); rc=$?
        [ $rc -eq 2 ] && [ "$(echo "$err" | head -n 1)" = "$b: option '--rounds': '$r' $why" ]
        ok $? "$b --rounds '$r': a usage error in sva-bench's words (got $rc: $(echo "$err" | head -1))"
    done
done
for r in 01 01000; do
    "$bench" --rounds "$r" --help >/dev/null 2>&1; ok $? "sva-bench --rounds $r: a number (leading zeros change nothing)"
    for b in bench-pasid bench-fault bench-coherence bench-budget; do
        "${top_builddir:-.}/tools/bench/$b" --rounds "$r" --help >/dev/null 2>&1
        ok $? "$b --rounds $r: a number"
    done
done
"$bench" --rounds >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "--rounds without a number is a usage error"
if [ -w /dev/full ]; then
    "$bench" --json fault >/dev/full 2>/dev/null; [ $? -eq 1 ]; ok $? "results that cannot be written: exit 1"
    err=$("$bench" --help 2>&1 >/dev/full); rc=$?
    [ $rc -eq 1 ] && echo "$err" | grep -q "writing to standard output failed"
    ok $? "--help that cannot be written: exit 1, saying so (got $rc: $err)"
else
    skip "no /dev/full here"
    skip "(same)"
fi
# Every figure's "target" has one type: a string such as ">= 0.80", or null
# for a figure without a target (sva-bench(1), --json).
man_bench="${top_srcdir:-$(dirname "$0")/../..}/man/sva-bench.1"
json_doc=$(sed -n '/^\.BR \\-j ", " \\-\\-json$/,/^\.TP$/p' "$man_bench" 2>/dev/null)
echo "$json_doc" | grep -q '^\.B target$' && echo "$json_doc" | grep -q 'for a figure without a target'
ok $? "sva-bench(1) --json documents the target member and its null"
# The page says the document is json-c's plain form, no blank after a colon:
# the members it shows ({"skipped":"reason"}...) must be in that form too.
shown=$(grep -n '\\(dq: ' "$man_bench")
[ -z "$shown" ]
ok $? "sva-bench(1) shows its JSON as printed, no blank after a colon (got: $(echo $shown))"
if command -v python3 >/dev/null 2>&1 && [ -e /dev/iommu ]; then
    out=$("$bench" --json --rounds 1 budget 2>/dev/null | python3 -c 'import json, re, sys
d = json.load(sys.stdin)["budget"]
if "skipped" in d:
    print("skipped")
    sys.exit(0)
t = [f["target"] for f in d["figures"].values()]
assert all(x is None or re.fullmatch("[<>]= [0-9]+[.][0-9]+", x) for x in t) and None in t and any(t), t
assert all(len(f["ratio"]["halves"]) == 2 for f in d["figures"].values()), "halves"' 2>&1)
    rc=$?
    if [ "$out" = skipped ]; then
        skip "the budget benchmark cannot run here (no iommufd selftest mock)"
    else
        ok $rc "--json budget: every figure's target is a string or null, and its ratio has both halves $out"
    fi
else
    skip "no /dev/iommu here (or no python3): the budget benchmark cannot run"
fi
out=$("$bench" --rounds 1 pasid 2>/dev/null); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q "^PASID space benchmark: median of 1 round (ratio"
ok $? "--rounds 1 pasid: its header says '1 round', not '1 rounds' (got $rc: $(echo "$out" | head -1))"
if command -v python3 >/dev/null 2>&1; then
    "$bench" --json --rounds 2 pasid 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["pasid"]["rounds"] == 2 and d["fault"] is None'
    ok $? "--json --rounds 2 pasid: valid JSON, and the benchmark ran 2 rounds"
    # Without --rounds, pasid measures its default 7 rounds (sva-bench(1), --rounds).
    "$bench" --json pasid 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["pasid"]["rounds"] == 7, d["pasid"]["rounds"]'
    ok $? "--json pasid without --rounds: 7 rounds, its default"
    "$bench" -j --rounds 1 pasid 2>/dev/null | python3 -c 'import json,sys; json.load(sys.stdin)'
    ok $? "-j, documented in sva-bench(1) and --help, is --json"
    # sva-bench(1), --json: one JSON object on one line, as json-c prints it
    # plain.  pasid's member was pretty-printed over a dozen lines inside an
    # otherwise compact document.
    out=$("$bench" --json --rounds 1 pasid 2>/dev/null; echo "rc=$?")
    [ "$(printf '%s\n' "$out" | tail -n 1)" = "rc=0" ] && out=$(printf '%s\n' "$out" | sed '$d') &&
        [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] &&
        printf '%s\n' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["pasid"]["rounds"] == 1'
    ok $? "--json --rounds 1 pasid: the document is one line of valid JSON (got: $(printf '%s' "$out" | head -c 300))"
    "$bench" --help | grep -q -- '-j, --json' && grep -q 'BR \\-j ", " \\-\\-json' "$man_bench"
    ok $? "--help and sva-bench(1) list -j"
    # A benchmark that fails (here: no memory for its PASID space under a
    # 100 MB address-space limit) used to cut the document short.
    if (ulimit -v 100000 && "$bench" --help) >/dev/null 2>&1; then
        out=$( (ulimit -v 100000; "$bench" --json --rounds 1) 2>/dev/null)
        rc=$?
        echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert "failed" in d["pasid"] and d["fault"] is not None' &&
            [ "$rc" -eq 1 ]
        ok $? "--json with a benchmark that fails: still one valid object, that one {\"failed\": ...}, exit 1 (got: $out)"
    else
        skip "sva-bench does not start under a 100 MB address-space limit (a sanitizer build)"
    fi
else
    skip "python3 not installed: cannot validate the JSON"
    skip "(same)"
    skip "(same)"
    skip "(same)"
    skip "(same)"
    skip "(same)"
fi
# sva-bench(1), --json: one line "as json-c prints it plain (no blank after a
# colon or comma)", and a benchmark that failed or cannot run here is
# {"failed":"reason"} or {"skipped":"reason"}, word for word.  Under a 100 MB
# address-space limit pasid fails; without /dev/iommu the others skip.
if ! command -v python3 >/dev/null 2>&1 || [ -e /dev/iommu ]; then
    skip "no python3, or this host has /dev/iommu (the others would run for long)"
elif (ulimit -v 100000 && "$bench" --help) >/dev/null 2>&1; then
    out=$( (ulimit -v 100000; "$bench" --json --rounds 1) 2>/dev/null)
    got=$(printf '%s\n' "$out" | python3 -c '
import json, re, sys
s = sys.stdin.read()
assert s.endswith("\n") and s.count("\n") == 1, "not one line"
s = s[:-1]
json.loads(s)
bare = re.sub(r"\"(\\.|[^\"\\])*\"", "\"\"", s)
assert " " not in bare, "a blank outside a string: " + bare
assert re.search(r"\"pasid\":\{\"failed\":\"[^\"]", s), "no {\"failed\":\"reason\"} for pasid"
assert re.search(r"\"fault\":\{\"skipped\":\"[^\"]", s), "no {\"skipped\":\"reason\"} for fault"
' 2>&1)
    ok $? "--json, pasid failing and the others skipped: one plain line, {\"failed\":\"...\"} and {\"skipped\":\"...\"} (got: $got; $(printf '%s' "$out" | head -c 300))"
else
    skip "sva-bench does not start under a 100 MB address-space limit (a sanitizer build)"
fi
if command -v python3 >/dev/null 2>&1; then
    out=$("$bench" --json --rounds 1 pasid 2>/dev/null)
    got=$(printf '%s\n' "$out" | python3 -c '
import json, re, sys
s = sys.stdin.read().rstrip("\n")
json.loads(s)
bare = re.sub(r"\"(\\.|[^\"\\])*\"", "\"\"", s)
assert " " not in bare, "a blank outside a string: " + bare
' 2>&1)
    ok $? "--json --rounds 1 pasid: its figures printed plain, no blank after a colon or comma (got: $got)"
else
    skip "python3 not installed: cannot validate the JSON"
fi
# The same in text: the failing benchmark does not end the run, its reason
# goes to standard error, and the exit status is 1 at the end.
if [ -e /dev/iommu ]; then
    skip "this host has /dev/iommu: the other benchmarks would run for long"
elif (ulimit -v 100000 && "$bench" --help) >/dev/null 2>&1; then
    errf=${TMPDIR:-/tmp}/test-sva-bench.$$.err
    out=$( (ulimit -v 100000; "$bench" --rounds 1) 2>"$errf")
    rc=$?
    err=$(cat "$errf"); rm -f "$errf"
    [ "$rc" -eq 1 ] && echo "$out" | grep -q "^pasid benchmark failed: " &&
        echo "$out" | grep -q "^budget benchmark skipped: " && ! echo "$out" | grep -q "Bail out!" &&
        echo "$err" | grep -q "^sva-bench: pasid benchmark failed: "
    ok $? "text mode with a benchmark that fails: the others still run, the reason on standard error, exit 1 (got $rc: $(echo "$out / $err" | tr "\n" " "))"
else
    skip "sva-bench does not start under a 100 MB address-space limit (a sanitizer build)"
fi
# pasid's lock mode (sva-bench(1): the header, and lock_mode in JSON): with
# SVA_NO_MEMBARRIER set, to anything (libsva(7)), the lock is symmetric.
out=$(SVA_NO_MEMBARRIER=1 "$bench" --rounds 1 pasid 2>/dev/null); rc=$?
[ $rc -eq 0 ] && echo "$out" | head -n 1 | grep -q "lock: symmetric$"
ok $? "SVA_NO_MEMBARRIER=1 pasid: the header says the lock is symmetric (got $rc: $(echo "$out" | head -n 1))"
out=$("$bench" --rounds 1 pasid 2>/dev/null); rc=$?
[ $rc -eq 0 ] && echo "$out" | head -n 1 | grep -Eq "lock: (asymmetric|symmetric)$"
ok $? "pasid: the header names the lock's mode (got $rc: $(echo "$out" | head -n 1))"
if command -v python3 >/dev/null 2>&1; then
    for nomb in "" 1; do
        if [ -n "$nomb" ]; then want=symmetric; else want="asymmetric symmetric"; fi
        out=$(env ${nomb:+SVA_NO_MEMBARRIER=$nomb} "$bench" --json --rounds 1 pasid 2>/dev/null)
        printf '%s\n' "$out" | python3 -c 'import json, sys
d = json.load(sys.stdin)
p = d["pasid"]
assert d["fault"] is None and d["coherence"] is None and d["budget"] is None, "others not null"
assert p["lock_mode"] in sys.argv[1].split(), p["lock_mode"]
assert type(p["rounds"]) is int and p["rounds"] == 1, p["rounds"]
num = (int, float)
figs = [k for k, v in p.items() if isinstance(v, dict) and "ratio" in v]
assert len(figs) >= 5, figs
for k in figs:
    assert isinstance(p[k]["libsva"], num) and isinstance(p[k]["baseline"], num) and isinstance(p[k]["ratio"], num), k' "$want"
        ok $? "--json pasid${nomb:+ with SVA_NO_MEMBARRIER=$nomb}: lock_mode is $want, every figure's libsva, baseline and ratio numbers (got: $(printf '%s' "$out" | head -c 300))"
    done
else
    skip "python3 not installed: cannot read the JSON"
    skip "(same)"
fi
# --compare: two --json runs, target by target (issue 14).  Run 2 here has
# fault's sequential missed, budget's sequential_4x unstable and coherence
# skipped; figures without a target are not compared.
tmp=${TMPDIR:-/tmp}/test-sva-bench.$$
mkdir -p "$tmp"
cat > "$tmp/run1.json" <<'JSON'
{"pasid":null,"fault":{"benchmark":"fault","rounds":15,
 "random_single_page":{"unit":"us/fault","baseline":17.6,"libsva":19.1,"ratio":{"median":1.085,"min":1.01,"max":1.2,"halves":[1.08,1.09]},"target":"<= 1.10","rounds_met":13,"rounds":15,"verdict":"met"},
 "sequential":{"unit":"faults/page","baseline":1,"libsva":0.05,"ratio":{"median":20.1,"min":19,"max":21,"halves":[20,20.2]},"target":">= 16.00","rounds_met":15,"rounds":15,"verdict":"met"},
 "prefaulted_job":{"faults":0,"target":"<= 0.00","verdict":"met"}},
 "coherence":{"benchmark":"coherence","madvise_dontneed_4k":{"tracked_ns":5000,"untracked_ns":900,"ratio":{"median":5.8,"min":5.5,"max":6.1,"halves":[5.7,5.9]},"target":"<= 3.00","rounds_met":0,"rounds":7,"verdict":"missed"},"fence_idle_ns":2.5},
 "budget":{"benchmark":"budget","figures":{"sequential_4x":{"ratio":{"median":0.9,"min":0.85,"max":0.95,"halves":[0.9,0.9]},"target":">= 0.80","rounds_met":9,"rounds":9,"verdict":"met"},
  "random_1x":{"ratio":{"median":1.0,"min":1.0,"max":1.0,"halves":[1.0,1.0]},"target":null,"rounds_met":0,"rounds":9,"verdict":"no target"}}}}
JSON
sed -e 's/"median":20.1,"min":19,"max":21,"halves":\[20,20.2\]},"target":">= 16.00","rounds_met":15,"rounds":15,"verdict":"met"/"median":12,"min":11,"max":13,"halves":[12,12]},"target":">= 16.00","rounds_met":0,"rounds":15,"verdict":"missed"/' \
    -e 's/"median":0.9,"min":0.85,"max":0.95,"halves":\[0.9,0.9\]},"target":">= 0.80","rounds_met":9,"rounds":9,"verdict":"met"/"median":0.81,"min":0.7,"max":0.9,"halves":[0.78,0.83]},"target":">= 0.80","rounds_met":5,"rounds":9,"verdict":"unstable"/' \
    -e 's/^ "coherence":.*$/ "coherence":{"skipped":"no usable \/dev\/iommu here"},/' "$tmp/run1.json" > "$tmp/run2.json"
out=$("$bench" --compare "$tmp/run1.json" "$tmp/run2.json" 2>&1); rc=$?
[ $rc -eq 1 ] &&
    echo "$out" | grep -q "^target fault.random_single_page: met in both runs" &&
    echo "$out" | grep -q "^target fault.sequential: met in run 1, missed in run 2: not a stable verdict" &&
    echo "$out" | grep -q "^target fault.prefaulted_job: met in both runs" &&
    echo "$out" | grep -q "^target budget.figures.sequential_4x: met in run 1, unstable in run 2: not a stable verdict" &&
    echo "$out" | grep -q "^target coherence.madvise_dontneed_4k: missed in run 1, absent from run 2: not a stable verdict" &&
    ! echo "$out" | grep -q "random_1x" &&
    echo "$out" | grep -q "^5 targets: the two runs agree on 2, not on 3"
ok $? "--compare: a line per target, 'not a stable verdict' where the runs differ, exit 1 (got $rc: $(echo "$out" | tr '\n' '|'))"
out=$("$bench" --compare "$tmp/run1.json" "$tmp/run1.json" 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q "^5 targets: the two runs agree on every one" && ! echo "$out" | grep -q "not a stable"
ok $? "--compare of a run with itself: every target agrees, exit 0 (got $rc)"
printf '%s\n' '{"pasid":null,"fault":{"prefaulted_job":{"faults":0,"target":"<= 0.00","verdict":"met"}},"coherence":null,"budget":null}' > "$tmp/one.json"
out=$("$bench" --compare "$tmp/one.json" "$tmp/one.json" 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q "^1 target: the two runs agree on every one$"
ok $? "--compare of runs with one target: '1 target', not '1 targets' (got $rc: $(echo "$out" | tr '\n' '|'))"
echo '{"fault":' > "$tmp/cut.json"
out=$("$bench" --compare "$tmp/run1.json" "$tmp/cut.json" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "^sva-bench: .*cut.json: not an sva-bench --json document"
ok $? "--compare with a file that is not JSON: exit 1, naming it (got $rc: $out)"
# Every target counts, however many a document has and however long their
# paths: 300 targets where the last differs, and two whose paths share their
# first 200 characters (the old code kept 256 targets and 127 characters of a
# path, so it said the runs agree on both).
many() {
    printf '{"pasid":null,"coherence":null,"budget":null,"fault":{'
    i=1
    while [ $i -le 300 ]; do
        v=met; [ $i -eq 300 ] && v=$1
        printf '"t%03d":{"target":"<= 1.10","verdict":"%s"}' $i $v
        [ $i -lt 300 ] && printf ','
        i=$((i + 1))
    done
    printf '}}\n'
}
many met > "$tmp/many1.json"
many missed > "$tmp/many2.json"
out=$("$bench" --compare "$tmp/many1.json" "$tmp/many2.json" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "^target fault.t300: met in run 1, missed in run 2: not a stable verdict" &&
    echo "$out" | grep -q "^300 targets: the two runs agree on 299, not on 1$"
ok $? "--compare of runs with 300 targets: every one compared, the 300th's difference found (got $rc: $(echo "$out" | tail -2 | tr '\n' '|'))"
# Runs of 20000 targets each, sorted by path and merged (the time grows as
# (n + m) log(n + m), not as n * m as when each target was looked up in the
# whole other list).  Only what is printed is checked: speed belongs to
# benchmarks, not to a timed test under the sanitizers.
bulk() {
    awk -v v="$1" 'BEGIN {
        printf "{\"pasid\":null,\"coherence\":null,\"budget\":null,\"fault\":{"
        for (i = 20000; i >= 1; i--)
            printf "%s\"t%06d\":{\"target\":\"<= 1.10\",\"verdict\":\"%s\"}", (i < 20000 ? "," : ""), i, (i == 7 ? v : "met")
        print "}}"
    }'
}
bulk met > "$tmp/bulk1.json"
bulk missed > "$tmp/bulk2.json"
"$bench" --compare "$tmp/bulk1.json" "$tmp/bulk2.json" > "$tmp/bulk.out" 2>&1
out=$(grep -v "met in both runs$" "$tmp/bulk.out")
[ "$(grep -c "met in both runs$" "$tmp/bulk.out")" = 19999 ] &&
    echo "$out" | grep -q "^target fault.t000007: met in run 1, missed in run 2: not a stable verdict" &&
    echo "$out" | grep -q "^20000 targets: the two runs agree on 19999, not on 1$"
ok $? "--compare of runs with 20000 targets each, written in descending order: every one compared (got: $(echo "$out" | tr '\n' '|'))"
rm -f "$tmp/bulk1.json" "$tmp/bulk2.json" "$tmp/bulk.out"
long=$(printf 'k%.0s' $(seq 200))
printf '{"pasid":null,"coherence":null,"budget":null,"fault":{"%sA":{"target":"<= 1.10","verdict":"met"},"%sB":{"target":"<= 1.10","verdict":"met"}}}\n' "$long" "$long" > "$tmp/long1.json"
printf '{"pasid":null,"coherence":null,"budget":null,"fault":{"%sA":{"target":"<= 1.10","verdict":"met"},"%sB":{"target":"<= 1.10","verdict":"missed"}}}\n' "$long" "$long" > "$tmp/long2.json"
out=$("$bench" --compare "$tmp/long1.json" "$tmp/long2.json" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "^target fault.${long}B: met in run 1, missed in run 2: not a stable verdict" &&
    echo "$out" | grep -q "^2 targets: the two runs agree on 1, not on 1$"
ok $? "--compare: two targets whose paths share 200 characters are two targets (got $rc: $(echo "$out" | tail -1))"
# JSON that is not a run's document: an empty object, another member, a
# benchmark that is neither null nor an object.  Each would otherwise read as
# a run whose targets are all absent.
for doc in '{}' '{"fault":null,"x":{"verdict":"met"}}' '{"pasid":null,"fault":1,"coherence":null,"budget":null}'; do
    echo "$doc" > "$tmp/other.json"
    out=$("$bench" --compare "$tmp/run1.json" "$tmp/other.json" 2>&1 >/dev/null); rc=$?
    [ $rc -eq 1 ] && echo "$out" | grep -q "^sva-bench: .*other.json: not an sva-bench --json document"
    ok $? "--compare with $doc: exit 1, naming it on standard error (got $rc: $out)"
done
# A run followed by anything but white space (two runs in one file, a log
# line) is not one document; an empty file is none.
{ cat "$tmp/run1.json"; echo '--- end of run'; } > "$tmp/tail.json"
: > "$tmp/empty.json"
# A NUL byte and text after it is text after the document too (the check
# stopped at the NUL, and the file read as the run before it).
{ cat "$tmp/run1.json"; printf '\000--- end of run\n'; } > "$tmp/nul.json"
for f in tail empty missing nul; do
    out=$("$bench" --compare "$tmp/run1.json" "$tmp/$f.json" 2>&1 >/dev/null); rc=$?
    [ $rc -eq 1 ] && echo "$out" | grep -q "^sva-bench: .*$f.json: not an sva-bench --json document ([a-zA-Z]"
    ok $? "--compare with $f.json: exit 1, naming it and why on standard error (got $rc: $out)"
done
# The reason is sva-bench(1)'s word for it (unreadable, not JSON, text other
# than white space after the document, JSON without the run's four members),
# then the detail; json-c's wording alone ("null expected") named none of them.
echo 'nul' > "$tmp/nul-word.json"
echo '{}' > "$tmp/other.json"
echo '[1]' > "$tmp/array.json"
for fw in "missing:unreadable: No such file or directory" "$(basename "$tmp"):unreadable: Is a directory" \
    "cut:not JSON: " "nul-word:not JSON: " "empty:not JSON: " "tail:text other than white space after the document" \
    "nul:text other than white space after the document" "other:JSON without the run's four members" \
    "array:JSON without the run's four members"; do
    f=${fw%%:*} want=${fw#*:}
    case $f in test-sva-bench.*) path=$tmp ;; *) path=$tmp/$f.json ;; esac
    out=$("$bench" --compare "$tmp/run1.json" "$path" 2>&1 >/dev/null); rc=$?
    [ $rc -eq 1 ] && echo "$out" | grep -qF "not an sva-bench --json document ($want"
    ok $? "--compare with $f: the reason in sva-bench(1)'s words, '$want' (got $rc: $out)"
done
printf '%s\n\n  \n' "$(cat "$tmp/run1.json")" > "$tmp/spaced.json"
"$bench" --compare "$tmp/run1.json" "$tmp/spaced.json" >/dev/null 2>&1
ok $? "--compare: white space after the document is fine"
"$bench" --compare "$tmp/run1.json" >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "--compare with one file is a usage error"
"$bench" --compare --json "$tmp/run1.json" "$tmp/run1.json" >/dev/null 2>&1; [ $? -eq 2 ]
ok $? "--compare with --json is a usage error"
# -h and -V with --compare (sva-bench(1), EXIT STATUS): with two files, the
# help or the version and nothing compared; without them, --compare's usage
# error, status 2, and nothing on standard output.
out=$("$bench" --compare -h 2>"$tmp/err"); rc=$?
[ $rc -eq 2 ] && [ -z "$out" ] && grep -q "^sva-bench: --compare wants two files" "$tmp/err" &&
    grep -qx "Try 'sva-bench --help' for more information." "$tmp/err"
ok $? "--compare -h: --compare's usage error, status 2 (got $rc: $out)"
for asked in -h --help -V --version; do
    out=$("$bench" --compare "$tmp/run1.json" "$tmp/run2.json" $asked 2>&1); rc=$?
    case $asked in -h|--help) want="^usage: sva-bench" ;; *) want="^sva-bench (libsva) " ;; esac
    [ $rc -eq 0 ] && echo "$out" | grep -q "$want" && ! echo "$out" | grep -q "^target "
    ok $? "--compare RUN1 RUN2 $asked: prints what $asked prints, status 0, compares nothing (got $rc)"
done
# Each line's form (sva-bench(1), --compare): the two median ratios after a
# verdict both runs share, none for a count; "unstable in both runs" is no
# stable verdict either.
out=$("$bench" --compare "$tmp/run1.json" "$tmp/run1.json" 2>&1)
echo "$out" | grep -qx "target fault.random_single_page: met in both runs (ratio 1.085, 1.085)" &&
    echo "$out" | grep -qx "target fault.prefaulted_job: met in both runs"
ok $? "--compare: 'met in both runs (ratio R1, R2)', a count without ratios (got: $(echo "$out" | tr '\n' '|'))"
out=$("$bench" --compare "$tmp/run2.json" "$tmp/run2.json" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -qx "target budget.figures.sequential_4x: unstable in both runs: not a stable verdict (ratio 0.810, 0.810)"
ok $? "--compare: 'unstable in both runs: not a stable verdict', status 1 (got $rc: $(echo "$out" | tr '\n' '|'))"
out=$("$bench" --compare "$tmp/run1.json" "$tmp/run2.json" 2>&1)
echo "$out" | grep -qx "target fault.sequential: met in run 1, missed in run 2: not a stable verdict (ratio 20.100, 12.000)"
ok $? "--compare: verdicts that differ, with both ratios (got: $(echo "$out" | tr '\n' '|'))"
# The lines follow run 1's targets in its document's order, then those only
# run 2 has, in its order (sva-bench(1), --compare): not sorted by name.
printf '%s\n' '{"pasid":null,"coherence":null,"budget":null,"fault":{"zz":{"target":"<= 1.10","verdict":"met"},"aa":{"target":"<= 1.10","verdict":"met"}}}' > "$tmp/ord1.json"
printf '%s\n' '{"pasid":null,"coherence":null,"budget":null,"fault":{"yy":{"target":"<= 1.10","verdict":"met"},"aa":{"target":"<= 1.10","verdict":"met"},"bb":{"target":"<= 1.10","verdict":"missed"},"zz":{"target":"<= 1.10","verdict":"met"}}}' > "$tmp/ord2.json"
out=$("$bench" --compare "$tmp/ord1.json" "$tmp/ord2.json" 2>&1); rc=$?
order=$(echo "$out" | sed -n 's/^target fault\.\([a-z]*\):.*/\1/p' | tr '\n' ' ')
[ $rc -eq 1 ] && [ "$order" = "zz aa yy bb " ] &&
    echo "$out" | grep -q "^target fault.yy: met in run 2, absent from run 1: not a stable verdict$" &&
    echo "$out" | tail -n 1 | grep -q "^4 targets: the two runs agree on 2, not on 2$"
ok $? "--compare: run 1's targets in its order, then run 2's own in its order, the count last (got $rc: $order / $(echo "$out" | tail -n 1))"
# A figure the host could not measure, {"skipped": reason} (sva-bench(1),
# --json), is no target: not compared, not counted.
printf '%s\n' '{"pasid":null,"coherence":null,"budget":null,"fault":{"prefault_64m_2m":{"skipped":"no transparent huge pages here"},"aa":{"target":"<= 1.10","verdict":"met"}}}' > "$tmp/skf.json"
out=$("$bench" --compare "$tmp/skf.json" "$tmp/skf.json" 2>&1); rc=$?
[ $rc -eq 0 ] && ! echo "$out" | grep -q "prefault_64m_2m" && echo "$out" | tail -n 1 | grep -q "^1 target: the two runs agree on every one$"
ok $? "--compare: a skipped figure is no target (got $rc: $(echo "$out" | tr '\n' '|'))"
# Runs without a target: nothing to compare, and so not status 0 ("and there
# is one").
printf '%s\n' '{"pasid":null,"fault":null,"coherence":null,"budget":{"skipped":"no usable /dev/iommu"}}' > "$tmp/none.json"
out=$("$bench" --compare "$tmp/none.json" "$tmp/none.json" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "^no target in either run"
ok $? "--compare of runs without a target: status 1, saying there is none (got $rc: $(echo "$out" | tr '\n' '|'))"
# A key or verdict is whatever the document holds: a newline, an escape
# sequence or a backslash in one is printed escaped as \xhh (sva-bench(1),
# --compare), never raw, so that each target stays one line and nothing
# reaches the terminal as a control sequence.
printf '%s\n' '{"pasid":null,"coherence":null,"budget":null,"fault":{"a\nb\u001b[2J\\c":{"target":"<= 1.10","verdict":"met"},"d":{"target":"<= 1.10","verdict":"no\rpe\u0007"}}}' > "$tmp/ctl.json"
"$bench" --compare "$tmp/ctl.json" "$tmp/ctl.json" > "$tmp/ctl.out" 2>&1; rc=$?
# shellcheck disable=SC1003 # the backslashes are grep's, in single quotes
[ $rc -eq 1 ] && [ "$(wc -l < "$tmp/ctl.out")" -eq 4 ] && ! grep -q "$(printf '[\033\r\a]')" "$tmp/ctl.out" &&
    grep -q '^target fault\.a\\x0ab\\x1b\[2J\\x5cc: met in both runs$' "$tmp/ctl.out" &&
    grep -q '^target fault\.d: no\\x0dpe\\x07 in both runs: not a stable verdict$' "$tmp/ctl.out"
ok $? "--compare: control characters and backslashes in a key or a verdict escaped as \\xhh, one line per target (got $rc: $(sed -n l "$tmp/ctl.out" | tr "\n" "|"))"
# The rest of what the page calls control characters and ill-formed UTF-8:
# DEL, a C1 control (U+0085, as UTF-8), a stray byte, an overlong encoding
# and a UTF-16 surrogate in a key are shown as \xhh, as sva-info(1) shows
# names; well-formed UTF-8 (U+00E9) is printed as it is.
printf '{"pasid":null,"coherence":null,"budget":null,"fault":{"a\177b\302\205c\377d\300\200e\355\240\200f\303\251g":{"target":"<= 1.10","verdict":"met"}}}\n' > "$tmp/c1.json"
"$bench" --compare "$tmp/c1.json" "$tmp/c1.json" > "$tmp/c1.out" 2>&1; rc=$?
# shellcheck disable=SC1003 # the backslashes are grep's, in single quotes
[ $rc -eq 0 ] && [ "$(wc -l < "$tmp/c1.out")" -eq 3 ] &&
    grep -q '^target fault\.a\\x7fb\\xc2\\x85c\\xffd\\xc0\\x80e\\xed\\xa0\\x80f'"$(printf '\303\251')"'g: met in both runs$' "$tmp/c1.out"
ok $? "--compare: DEL, C1, a stray byte, an overlong form and a surrogate in a key as \\xhh, U+00E9 kept (got $rc: $(sed -n l "$tmp/c1.out" | tr "\n" "|"))"
# "(or missed)": a target both runs miss agrees, with both ratios.
sed -e 's/"rounds_met":13,"rounds":15,"verdict":"met"/"rounds_met":0,"rounds":15,"verdict":"missed"/' "$tmp/run1.json" > "$tmp/missed.json"
out=$("$bench" --compare "$tmp/missed.json" "$tmp/missed.json" 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -qx "target fault.random_single_page: missed in both runs (ratio 1.085, 1.085)" &&
    echo "$out" | grep -qx "target coherence.madvise_dontneed_4k: missed in both runs (ratio 5.800, 5.800)"
ok $? "--compare: a target both runs miss agrees: 'missed in both runs (ratio R1, R2)', exit 0 (got $rc: $(echo "$out" | tr '\n' '|'))"
# "absent from run 2" and its mirror (sva-bench(1), --compare: the run that
# has the target is named first): a benchmark that failed in run 1
# ({"failed": reason}) lacks its targets there.
sed -e 's/^ "coherence":.*$/ "coherence":{"failed":"out of memory"},/' "$tmp/run1.json" > "$tmp/failed.json"
out=$("$bench" --compare "$tmp/failed.json" "$tmp/run1.json" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -qx "target coherence.madvise_dontneed_4k: missed in run 2, absent from run 1: not a stable verdict" &&
    echo "$out" | tail -n 1 | grep -qx "5 targets: the two runs agree on 4, not on 1"
ok $? "--compare: a target only run 2 has: 'missed in run 2, absent from run 1: not a stable verdict', counted (got $rc: $(echo "$out" | tr '\n' '|'))"
# sva-bench(1), --compare and EXIT STATUS: another option than -h or -V is a
# usage error (status 2, the line and the hint on standard error, nothing
# compared), and a comparison that cannot be written is status 1, saying so.
for opt in "--rounds 3" -j; do
    # shellcheck disable=SC2086 # split on purpose
    out=$("$bench" --compare $opt "$tmp/run1.json" "$tmp/run1.json" 2>"$tmp/err"); rc=$?
    [ $rc -eq 2 ] && [ -z "$out" ] && grep -q "^sva-bench: --compare wants two files" "$tmp/err" &&
        grep -qx "Try 'sva-bench --help' for more information." "$tmp/err"
    ok $? "--compare with $opt: a usage error, status 2, nothing compared (got $rc: $out)"
done
out=$("$bench" --compare "$tmp/run1.json" "$tmp/run1.json" "$tmp/run1.json" 2>"$tmp/err"); rc=$?
[ $rc -eq 2 ] && [ -z "$out" ] && grep -q "^sva-bench: --compare wants two files" "$tmp/err"
ok $? "--compare with three files: a usage error, status 2 (got $rc)"
if [ -w /dev/full ]; then
    err=$("$bench" --compare "$tmp/run1.json" "$tmp/run1.json" 2>&1 >/dev/full); rc=$?
    [ $rc -eq 1 ] && echo "$err" | grep -q "^sva-bench: writing the comparison"
    ok $? "--compare whose comparison cannot be written: exit 1, saying so (got $rc: $err)"
else
    skip "no /dev/full here"
fi
# A file that is not a run: its reason on standard error, nothing but the
# reason (no comparison) and no usage.
out=$("$bench" --compare "$tmp/run1.json" "$tmp/cut.json" 2>"$tmp/err"); rc=$?
[ $rc -eq 1 ] && [ -z "$out" ] && ! grep -q "^usage:" "$tmp/err"
ok $? "--compare with a file that is not a run: nothing on standard output, no usage (got $rc: $out)"
rm -rf "$tmp"
# The report of one benchmark that is not the first starts with its header,
# not a blank line (a blank line only separates two benchmarks' reports).
first=$("$bench" fault 2>/dev/null | head -n 1)
[ -n "$first" ]; ok $? "sva-bench fault: the first line is not blank (got '$first')"
# Coherence's figures: the verdict rule and words of fault and budget, their
# JSON members (ratio median/min/max/halves, target, rounds_met, rounds,
# verdict), and no idle fence figure where none was measured.  The build
# tree's bench-coherence runs without /dev/iommu (userfaultfd only).
coh=${top_builddir:-.}/tools/bench/bench-coherence
if [ -e /dev/iommu ] || ! command -v python3 >/dev/null 2>&1; then
    skip "this host has /dev/iommu (or no python3): bench-coherence would not run its userfaultfd-only mode"
    skip "(same)"
    skip "(same)"
else
    coh_err=${TMPDIR:-/tmp}/test-sva-bench-coh.$$
    out=$("$coh" --json --rounds 2 2>"$coh_err")
    if echo "$out" | grep -q skipped; then
        skip "userfaultfd is refused here: $out"
        skip "(same)"
        skip "(same)"
    else
        # Its documented mode, not an error: libsva logs nothing about the
        # missing /dev/iommu (it said "the kernel needs CONFIG_IOMMUFD").
        [ -e "$coh_err" ] && [ ! -s "$coh_err" ]
        ok $? "bench-coherence without /dev/iommu: nothing on standard error (got: $(tr '\n' '|' < "$coh_err"))"
        echo "$out" | python3 -c 'import json, sys
d = json.load(sys.stdin)
assert d["rounds"] == 2, "rounds"
assert d["fence_idle_ns"] is None, "fence_idle_ns measured without /dev/iommu: %r" % d["fence_idle_ns"]
for k in ("munmap_4k", "munmap_2m", "madvise_dontneed_4k", "madvise_dontneed_2m", "first_touch"):
    f = d[k]
    assert set(f["ratio"]) == {"median", "min", "max", "halves"} and len(f["ratio"]["halves"]) == 2, k
    assert f["target"] in ("<= 3.00", "<= 1.05") and f["rounds"] == 2 and 0 <= f["rounds_met"] <= 2, k
    assert f["verdict"] in ("met", "missed", "unstable"), k
    assert "target_max" not in f and "met" not in f, k'
        ok $? "bench-coherence --json --rounds 2: fault's figure members and verdicts, fence_idle_ns null (got: $out)"
        # One round has no halves to agree: no verdict but unstable.
        out=$("$coh" --json --rounds 1 2>/dev/null)
        echo "$out" | python3 -c 'import json, sys
d = json.load(sys.stdin)
v = [d[k]["verdict"] for k in ("munmap_4k", "munmap_2m", "madvise_dontneed_4k", "madvise_dontneed_2m", "first_touch")]
assert d["rounds"] == 1 and v == ["unstable"] * 5, v'
        ok $? "bench-coherence --json --rounds 1: every verdict is unstable (got: $out)"
    fi
    rm -f "$coh_err"
fi
if [ -e /dev/iommu ]; then
    skip "this host has /dev/iommu: the skip path is not reachable"
    skip "(same)"
    skip "(same)"
    skip "(same)"
else
    out=$("$bench" fault 2>/dev/null); rc=$?
    [ $rc -eq 0 ] && echo "$out" | grep -q "skipped: no usable /dev/iommu"
    ok $? "without /dev/iommu the fault benchmark is skipped with the reason (exit 0)"
    out=$("$bench" coherence 2>/dev/null); rc=$?
    [ $rc -eq 0 ] && echo "$out" | grep -q "coherence benchmark skipped: no usable /dev/iommu"
    ok $? "without /dev/iommu the coherence benchmark is skipped with the reason (exit 0)"
    out=$("$bench" budget 2>/dev/null); rc=$?
    [ $rc -eq 0 ] && echo "$out" | grep -q "budget benchmark skipped: no usable /dev/iommu"
    ok $? "without /dev/iommu the budget benchmark is skipped with the reason (exit 0)"
    out=$("$bench" --json fault 2>/dev/null)
    if command -v python3 >/dev/null 2>&1; then
        echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["pasid"] is None and d["coherence"] is None and "skipped" in d["fault"]'
        ok $? "--json: valid JSON with pasid and coherence null and fault skipped"
    else
        skip "python3 not installed: cannot validate the JSON"
    fi
    # A skip reason holds strerror()'s words, which --json wrote unescaped:
    # the preloaded strerror() says a quote, a backslash, a tab, a control
    # character and a newline, and the document must stay JSON, the reason
    # read back as it was said.
    pre=${top_builddir:-.}/tests/unit/.libs/strerror-preload.so
    if [ ! -f "$pre" ] || ! command -v python3 >/dev/null 2>&1; then
        skip "$pre is not built (or no python3)"
    else
        out=$(LD_PRELOAD=$pre ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
            "$bench" --json fault 2>/dev/null)
        if ! printf '%s\n' "$out" | grep -q 'odd'; then
            skip "the preloaded strerror() was not reached (a sanitizer's runtime answers it first)"
        else
            printf '%s\n' "$out" | python3 -c 'import json, sys
d = json.load(sys.stdin)
assert "odd \"reason\" \\ with\ta\x01control\nnewline" in d["fault"]["skipped"], d["fault"]'
            ok $? "--json, a skip reason with a quote, a backslash and control characters: valid JSON, the reason read back whole (got: $(printf '%s' "$out" | tr -c '[:print:]' '|'))"
        fi
        # sva-bench(1), --json: a reason's bytes that are not valid UTF-8
        # become U+FFFD (one per byte, as sva-info(1) says of its JSON), so
        # the document is valid JSON whatever the reason holds; é is kept.
        out=$(STRERROR_BAD_UTF8=1 LD_PRELOAD=$pre ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
            "$bench" --json fault 2>/dev/null | od -An -tx1 | tr -d ' \n')
        if ! printf '%s\n' "$out" | grep -q '6f646420'; then
            skip "the preloaded strerror() was not reached (a sanitizer's runtime answers it first)"
        else
            printf '%s\n' "$out" | python3 -c 'import json, sys
d = json.loads(bytes.fromhex(sys.stdin.read().strip()).decode("utf-8"))
r = d["fault"]["skipped"]
assert "odd \ufffd \ufffd\ufffd \ufffd\ufffd\ufffd \ufffd \u00e9 end" in r, ascii(r)'
            ok $? "--json, a skip reason with bytes that are not UTF-8: strict UTF-8 JSON, each such byte one U+FFFD, é kept"
        fi
    fi
fi
# A skip reason in text: its control characters, backslash and bytes that
# are not UTF-8 escaped as \xhh, as --compare's keys are (sva-bench(1),
# OUTPUT), so the reason stays on its one line.
pre=${top_builddir:-.}/tests/unit/.libs/strerror-preload.so
if [ -e /dev/iommu ]; then
    skip "/dev/iommu is here: the fault benchmark is not skipped"
elif [ ! -f "$pre" ]; then
    skip "$pre is not built"
else
    out=$(LD_PRELOAD=$pre ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
        "$bench" fault 2>/dev/null)
    if ! printf '%s\n' "$out" | grep -q 'odd'; then
        skip "the preloaded strerror() was not reached (a sanitizer's runtime answers it first)"
    else
        printf '%s\n' "$out" | grep -qF 'odd "reason" \x5c with\x09a\x01control\x0anewline' &&
            [ "$(printf '%s\n' "$out" | grep -c 'newline')" -eq 1 ] &&
            ! printf '%s\n' "$out" | grep -qx 'newline.*'
        ok $? "text: a skip reason's control characters and backslash escaped, on one line (got: $(printf '%s' "$out" | tr -c '[:print:]' '|'))"
    fi
    out=$(STRERROR_BAD_UTF8=1 LD_PRELOAD=$pre ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
        "$bench" fault 2>/dev/null)
    if ! printf '%s\n' "$out" | grep -q 'odd'; then
        skip "the preloaded strerror() was not reached (a sanitizer's runtime answers it first)"
    else
        printf '%s\n' "$out" | grep -qF "$(printf 'odd \\x80 \\xc0\\xaf \\xed\\xa0\\x80 \\xff \303\251 end')"
        ok $? "text: a skip reason's bytes that are not UTF-8 as \\xhh, é kept (got: $(printf '%s' "$out" | od -An -c | tr -s ' \n' ' '))"
    fi
fi
# sva-bench(1): all is the default, and -j is --json.  Without a benchmark
# name and with all, every member is an object (none null); without
# /dev/iommu fault, coherence and budget are each {"skipped": reason} and
# the run still exits 0.
if command -v python3 >/dev/null 2>&1; then
    for args in "-j --rounds 1" "--json --rounds 1 all"; do
        # shellcheck disable=SC2086 # split on purpose
        out=$("$bench" $args 2>/dev/null); rc=$?
        printf '%s\n' "$out" | python3 -c 'import json, sys
d = json.load(sys.stdin)
assert list(d) == ["pasid", "fault", "coherence", "budget"], list(d)
assert all(isinstance(v, dict) for v in d.values()), d
assert d["pasid"]["rounds"] == 1, d["pasid"]
if sys.argv[1] == "no":
    for k in ("fault", "coherence", "budget"):
        assert list(d[k]) == ["skipped"] and isinstance(d[k]["skipped"], str) and d[k]["skipped"], (k, d[k])' \
            "$([ -e /dev/iommu ] && echo yes || echo no)"
        [ $? -eq 0 ] && [ $rc -eq 0 ]
        ok $? "sva-bench $args: every benchmark's member an object (the default is all), skipped ones {\"skipped\": reason}, exit 0 (got $rc)"
    done
else
    skip "python3 not installed"
    skip "(same)"
fi
# Each benchmark run alone: --help is its usage on standard output (exit 0),
# and results that cannot be written are exit 1 (bench-pasid and
# bench-coherence run without /dev/iommu).
for b in bench-pasid bench-coherence bench-fault bench-budget; do
    out=$("${top_builddir:-.}/tools/bench/$b" --help 2>/dev/null); rc=$?
    [ $rc -eq 0 ] && [ "$out" = "usage: $b [--json] [--rounds N]" ]
    ok $? "$b --help: its usage on standard output, exit 0 (got $rc: $out)"
done
if [ -w /dev/full ]; then
    for b in bench-pasid bench-coherence; do
        err=$("${top_builddir:-.}/tools/bench/$b" --json --rounds 1 2>&1 >/dev/full); rc=$?
        [ $rc -eq 1 ] && echo "$err" | grep -q "^$b: writing the results failed"
        ok $? "$b run alone, results to a full disk: exit 1, saying so (got $rc: $err)"
    done
else
    skip "no /dev/full here"
    skip "(same)"
fi
# Each benchmark run alone words a usage error as sva-bench and the other
# tools do (tools/option_error.h): the line, then the hint, status 2.  They
# had their own "--rounds must be 1 to 1000" and a bare usage line.
for b in bench-pasid bench-fault bench-coherence bench-budget; do
    option_errors "$b" --rounds "${top_builddir:-.}/tools/bench/$b"
    value_errors "$b" "--rounds:1:1000" "${top_builddir:-.}/tools/bench/$b"
    err=$("${top_builddir:-.}/tools/bench/$b" --json stray 2>&1 >/dev/null); rc=$?
    [ $rc -eq 2 ] && [ "$(echo "$err" | head -n 1)" = "$b: unexpected argument 'stray'" ] &&
        [ "$(echo "$err" | tail -n 1)" = "Try '$b --help' for more information." ]
    ok $? "$b with an argument: a usage error naming it, then the hint (got $rc: $(echo "$err" | tr '\n' '|'))"
done
# Each benchmark run alone prints its --json report as sva-bench prints its
# document: one line of valid JSON, json-c's plain form (sva-bench(1), --json).
# bench-pasid's was pretty-printed over a dozen lines.  (bench-fault and
# bench-budget need the selftest mock: they print the same way.)
if command -v python3 >/dev/null 2>&1; then
    for b in bench-pasid bench-coherence; do
        out=$("${top_builddir:-.}/tools/bench/$b" --json --rounds 1 2>/dev/null; echo "rc=$?")
        got=$(printf '%s\n' "$out" | python3 -c '
import json, re, sys
s = sys.stdin.read()
lines = s.split("\n")
assert lines[-2] == "rc=0", "exit status: " + lines[-2]
s = "\n".join(lines[:-2]) + "\n"
assert s.count("\n") == 1, "%d lines" % s.count("\n")
d = json.loads(s)
assert isinstance(d, dict), "not an object"
bare = re.sub(r"\"(\\.|[^\"\\])*\"", "\"\"", s[:-1])
assert " " not in bare, "a blank outside a string: " + bare
' 2>&1)
        ok $? "$b --json --rounds 1 run alone: one line of valid plain JSON, exit 0 (got: $got; $(printf '%s' "$out" | head -c 200 | tr '\n' '|'))"
    done
else
    skip "python3 not installed: cannot validate the JSON"
    skip "(same)"
fi
# A benchmark's output that sva-bench has no memory to keep whole: the
# benchmark failed, in text as in JSON (sva-bench(1), EXIT STATUS), not a
# report printed cut short and exit 0.  The preload fails sva-bench's
# realloc() past 4 KiB, and the child writes 8 KiB of lines as it ends.
cutpre=${top_builddir:-.}/tests/unit/.libs/bench-cut-preload.so
if [ ! -f "$cutpre" ]; then
    skip "$cutpre is not built"
    skip "(same)"
else
    errf=${TMPDIR:-/tmp}/test-sva-bench.$$.cut
    out=$(BENCH_CUT=1 LD_PRELOAD=$cutpre ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
        "$bench" --rounds 1 pasid 2>"$errf"); rc=$?
    err=$(cat "$errf")
    reached=yes
    if [ "$(printf '%s\n' "$out" | grep -c '^padding$')" -eq 1024 ]; then
        reached=no
        skip "the preloaded realloc() was not reached (a sanitizer's runtime answers it first)"
    else
        [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q "^PASID space benchmark" &&
            printf '%s\n' "$out" | tail -n 1 | grep -qx "pasid benchmark failed: out of memory keeping its output: cut short" &&
            [ "$err" = "sva-bench: pasid benchmark failed: out of memory keeping its output: cut short" ]
        ok $? "text, a benchmark's output cut short for want of memory: what was kept, then 'failed' and the reason on standard error, exit 1 (got $rc: $(printf '%s' "$out" | tail -n 1) / $err)"
    fi
    if ! command -v python3 >/dev/null 2>&1; then
        skip "python3 not installed"
    elif [ $reached = no ]; then
        # The same runtime answers the JSON run's realloc() too: every line
        # is kept and read as a second JSON value, not the cut this checks.
        skip "(same: the preloaded realloc() was not reached)"
    else
        out=$(BENCH_CUT=1 LD_PRELOAD=$cutpre ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
            "$bench" --json --rounds 1 pasid 2>"$errf"); rc=$?
        err=$(cat "$errf")
        printf '%s\n' "$out" | python3 -c 'import json, sys
d = json.load(sys.stdin)
assert d["pasid"] == {"failed": "out of memory keeping its output: cut short"}, d["pasid"]' &&
            [ $rc -eq 1 ] && [ "$err" = "sva-bench: pasid benchmark failed: out of memory keeping its output: cut short" ]
        ok $? "--json, the same: pasid {\"failed\": the reason}, the reason on standard error, exit 1 (got $rc: $out / $err)"
    fi
    rm -f "$errf"
fi
# bench-coherence run alone where userfaultfd is refused (uffd-refuse: EPERM
# from the system call and /dev/userfaultfd), its reason's strerror() words
# odd (the preload): {"skipped": reason} on one line, valid strict UTF-8
# JSON, a quote, a backslash and control characters escaped, each byte that
# is not UTF-8 one U+FFFD.  The program's own skip, run by no other test.
refuse=${top_builddir:-.}/tests/unit/uffd-refuse
pre=${top_builddir:-.}/tests/unit/.libs/strerror-preload.so
if [ ! -x "$refuse" ] || [ ! -f "$pre" ] || ! command -v python3 >/dev/null 2>&1; then
    skip "uffd-refuse or $pre is not built (or no python3)"
    skip "(same)"
else
    for bad in "" 1; do
        what="with a quote, a backslash and control characters"
        [ -n "$bad" ] && what="not UTF-8"
        out=$(env ${bad:+STRERROR_BAD_UTF8=1} LD_PRELOAD="$pre" \
            ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
            "$refuse" 1 1 0 "${top_builddir:-.}/tools/bench/bench-coherence" --json 2>/dev/null; echo "rc=$?")
        if printf '%s\n' "$out" | grep -q '^rc=99$'; then
            skip "no seccomp filters here"
        elif ! printf '%s\n' "$out" | grep -q 'odd'; then
            skip "the preloaded strerror() was not reached (a sanitizer's runtime answers it first)"
        else
            printf '%s\n' "$out" | python3 -c 'import json, sys
lines = sys.stdin.buffer.read().decode("utf-8").split("\n")
assert lines[-2] == "rc=0" and len(lines) == 3, lines
d = json.loads(lines[0])
want = "odd \ufffd \ufffd\ufffd \ufffd\ufffd\ufffd \ufffd \u00e9 end" if sys.argv[1] else "odd \"reason\" \\ with\ta\x01control\nnewline"
assert list(d) == ["skipped"] and d["skipped"].endswith("refused here: " + want), ascii(d)' "$bad"
            ok $? "bench-coherence --json, userfaultfd refused, a reason $what: {\"skipped\": reason} on one line, strict JSON (got: $(printf '%s' "$out" | tr -c '[:print:]' '|'))"
        fi
    done
fi
# bench-twice (what make bench-vm runs in the VM) with a stand-in for
# sva-bench whose JSON has no final newline: each "--- end of run N" line must
# still start a line, or bench-vm's extraction of the document runs on.
twice=${top_builddir:-.}/tools/bench/bench-twice
tdir=$(mktemp -d) || exit 1
cat > "$tdir/fake-bench" <<'FAKE'
#!/bin/sh
case $1 in
--json) printf '{"fault": null}' ;;
--compare) echo "fake compare of $2 and $3" ;;
esac
FAKE
chmod +x "$tdir/fake-bench"
out=$("$twice" "$tdir/fake-bench" "$tdir" 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -qx '{"fault": null}' &&
    [ "$(echo "$out" | grep -c '^--- end of run [12]: exit status 0$')" -eq 2 ] &&
    echo "$out" | grep -q "^fake compare of $tdir/sva-bench-run1.json and $tdir/sva-bench-run2.json$"
ok $? "bench-twice: a run's JSON without a final newline still ends its own line (got $rc: $out)"
rm -rf "$tdir"
done_testing
