#!/bin/sh
# Download a .deb from trixie-backports (fallback: sid) without touching the
# system's apt configuration: a private sources list, state dir and cache.
# usage: private-apt.sh [--resolve] STATE_DIR OUT_DIR PACKAGE_PATTERN
#   PACKAGE_PATTERN is an extended regex matched against package names; the
#   newest matching version is downloaded.  Prints the path of the .deb.
#   --resolve: download nothing, print "PACKAGE VERSION" (used as a cache key).
set -eu
resolve=
if [ "${1:-}" = --resolve ]; then resolve=1; shift; fi
[ $# -eq 3 ] || { echo "usage: private-apt.sh [--resolve] STATE_DIR OUT_DIR PACKAGE_PATTERN" >&2; exit 2; }
for tool in apt-get apt-cache; do
    command -v $tool >/dev/null 2>&1 || { echo "private-apt: $tool not found (Debian's apt package)" >&2; exit 1; }
done
[ -r /usr/share/keyrings/debian-archive-keyring.gpg ] ||
    { echo "private-apt: /usr/share/keyrings/debian-archive-keyring.gpg missing: apt-get install debian-archive-keyring" >&2; exit 1; }
pattern=$3
mkdir -p "$1/lists/partial" "$1/cache/archives/partial" "$2"
# apt resolves relative Dir:: paths against /etc/apt, so make them absolute.
state=$(cd "$1" && pwd) out=$(cd "$2" && pwd)
list="$state/sources.list"
cat > "$list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main
SRC
opts="-o Dir::Etc::SourceList=$list -o Dir::Etc::SourceParts=/dev/null \
 -o Dir::State::Lists=$state/lists -o Dir::Cache=$state/cache \
 -o Dir::State::Status=/dev/null -o APT::Default-Release= -o Debug::NoLocking=1 -o APT::Sandbox::User=root"
# An update older than a day is refreshed; the lists are small compared with the downloads.
if [ -z "$(find "$state/lists" -name '*Packages*' -mtime -1 2>/dev/null | head -n1)" ]; then
    apt-get $opts -qq update >&2
fi
# The newest package whose name matches wins (linux-source-7.3 over linux-source-7.2).
pkg=$(apt-cache $opts pkgnames 2>/dev/null | grep -E "^($pattern)\$" | sort -V | tail -n1)
[ -n "$pkg" ] || { echo "private-apt: no package matches '$pattern'" >&2; exit 1; }
# Prefer trixie-backports, fall back to whatever sid has.
ver=$(apt-cache $opts madison "$pkg" | awk -F'|' '/trixie-backports/ {gsub(/ /,"",$2); print $2; exit}')
[ -n "$ver" ] || ver=$(apt-cache $opts madison "$pkg" | awk -F'|' '{gsub(/ /,"",$2); print $2; exit}')
[ -n "$ver" ] || { echo "private-apt: no version of $pkg found" >&2; exit 1; }
if [ -n "$resolve" ]; then echo "$pkg $ver"; exit 0; fi
# apt-get download names the file PKG_VERSION_ARCH.deb, with an epoch's ':' as %3a.
# An older version's .deb may still lie in OUT_DIR: always pick this version's.
verfile=$(echo "$ver" | sed 's/:/%3a/')
deb=$(ls "$out/${pkg}_${verfile}_"*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
    # Download beside, then rename: an interrupted download never looks complete.
    part="$out/.partial.$$"
    rm -rf "$part" && mkdir "$part"
    (cd "$part" && apt-get $opts -qq download "$pkg=$ver" >&2) || { rm -rf "$part"; exit 1; }
    mv "$part"/*.deb "$out"/ && rmdir "$part"
    deb=$(ls "$out/${pkg}_${verfile}_"*.deb | head -n1)
fi
echo "$deb"
