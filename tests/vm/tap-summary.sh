#!/bin/sh
# Count TAP results.  POSIX sh + awk.
#
# usage: tap-summary.sh [--label TEXT] FILE...
#   prints "[TEXT: ]N passed, N failed, N skipped" for the TAP lines of FILEs.
#   Files named console-*.log (raw serial consoles of the test VM, which repeat
#   every TAP line of the per-test files) are ignored.
#
# Counting (one rule per line, at the start of the line):
#   ok ... # SKIP ...      skipped       ok ...              passed
#   not ok ... # TODO ...  skipped       not ok ...          failed
#   1..0 # SKIP ...        skipped (a whole file skipped)
#   Bail out! ...          failed
# Any other line (diagnostics, "# dmesg:" lines, the plan) counts nothing.
set -eu
label=
if [ "${1:-}" = --label ]; then label="$2: "; shift 2; fi
for f in "$@"; do
    [ -f "$f" ] || { echo "tap-summary.sh: $f: no such file" >&2; exit 1; }
done
for f in "$@"; do
    case $(basename "$f") in console-*.log) continue ;; esac
    cat "$f"
done | tr -d '\r' | awk -v label="$label" '
    /^ok([ \t]|$)/        { if (/#[ \t]*[Ss][Kk][Ii][Pp]/) s++; else p++; next }
    /^not ok([ \t]|$)/    { if (/#[ \t]*[Tt][Oo][Dd][Oo]/) s++; else f++; next }
    /^1\.\.0[ \t]*#[ \t]*[Ss][Kk][Ii][Pp]/ { s++; next }
    /^Bail out!/          { f++; next }
    END { printf "%s%d passed, %d failed, %d skipped\n", label, p, f, s }'
