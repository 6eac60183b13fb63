#!/bin/sh
# sva-bench: usage errors, --rounds reaching the benchmarks, the skip report
# where the fault benchmark cannot run, and valid JSON.  (The benchmarks themselves are measured, not tested.)
bench=${top_builddir:-.}/tools/sva-bench
. "${top_srcdir:-$(dirname "$0")/../..}/tests/tap.sh"

"$bench" --help >/dev/null 2>&1; ok $? "--help exits 0"
"$bench" bogus >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "an unknown benchmark is a usage error (exit 2)"
"$bench" pasid fault >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "two benchmark names are a usage error"
"$bench" --frobnicate >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "an unknown option is a usage error"
"$bench" --rounds 0 pasid >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "--rounds 0 is a usage error"
"$bench" --rounds 3x pasid >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "--rounds 3x is a usage error"
"$bench" --rounds >/dev/null 2>&1; [ $? -eq 2 ]; ok $? "--rounds without a number is a usage error"
if [ -w /dev/full ]; then
    "$bench" --json fault >/dev/full 2>/dev/null; [ $? -eq 1 ]; ok $? "results that cannot be written: exit 1"
else
    skip "no /dev/full here"
fi
if command -v python3 >/dev/null 2>&1; then
    "$bench" --json --rounds 2 pasid 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["pasid"]["rounds"] == 2 and d["fault"] is None'
    ok $? "--json --rounds 2 pasid: valid JSON, and the benchmark ran 2 rounds"
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
fi
done_testing
